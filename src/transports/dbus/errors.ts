/**
 * Turning whatever a method threw into a D-Bus error reply: our codes by
 * the table in protocol/dbus/errors.ts, sd-bus's own dispatcher errors as
 * they are, anything else (bugs, I/O failures) as
 * org.freedesktop.DBus.Error.Failed.
 * @module
 */

import { DBUS_ERROR_NAME } from '../../protocol/dbus/errors.ts'
import { MachinedError } from '../../protocol/errors.ts'

export { DBUS_ERROR_NAME }


/** Names sd-bus itself answers with, for calls that never reach a method. */
export const SD_BUS_ERROR = {
  UNKNOWN_METHOD: 'org.freedesktop.DBus.Error.UnknownMethod',
  UNKNOWN_OBJECT: 'org.freedesktop.DBus.Error.UnknownObject',
  UNKNOWN_INTERFACE: 'org.freedesktop.DBus.Error.UnknownInterface',
  UNKNOWN_PROPERTY: 'org.freedesktop.DBus.Error.UnknownProperty',
  PROPERTY_READ_ONLY: 'org.freedesktop.DBus.Error.PropertyReadOnly',
  INVALID_ARGS: 'org.freedesktop.DBus.Error.InvalidArgs',
  FAILED: 'org.freedesktop.DBus.Error.Failed',
} as const

/** An error sd-bus's dispatcher would raise before the method ran. */
export class DbusProtocolError extends Error {
  readonly dbusName: string
  constructor(dbusName: string, message: string) {
    super(message)
    this.dbusName = dbusName
  }
}

export interface WireError {
  readonly name: string
  readonly message: string
  /** True when this is not an expected error and should be logged. */
  readonly unexpected: boolean
}

export function toWireError(err: unknown): WireError {
  if (err instanceof DbusProtocolError) return { name: err.dbusName, message: err.message, unexpected: false }
  if (err instanceof MachinedError) {
    // An errno sd-bus has no name for: errno_to_bus_error_name_new() makes one.
    const name = err.code === 'FAILED' && err.errnoName !== undefined ? `System.Error.${err.errnoName}` : DBUS_ERROR_NAME[err.code]
    return { name, message: err.message, unexpected: false }
  }
  return { name: SD_BUS_ERROR.FAILED, message: 'Internal error', unexpected: true }
}
