/**
 * Error codes → D-Bus error names, in one table the compiler checks for
 * completeness (systemd's bus-common-errors.c plays this part). Errors
 * that are not ours (bugs, I/O failures) become org.freedesktop.DBus.Error.Failed.
 * @module
 */

import { MachinedError, type ErrorCode } from '../../protocol/errors.ts'

export const DBUS_ERROR_NAME = {
  INVALID_ARGS: 'org.freedesktop.DBus.Error.InvalidArgs',
  NO_SUCH_MACHINE: 'org.freedesktop.machine1.NoSuchMachine',
  MACHINE_EXISTS: 'org.freedesktop.machine1.MachineExists',
  NO_MACHINE_FOR_PID: 'org.freedesktop.machine1.NoMachineForPID',
  NO_PRIVATE_NETWORKING: 'org.freedesktop.machine1.NoPrivateNetworking',
  // systemd 252 has no name of its own for these: the errno becomes the D-Bus name.
  NO_OS_RELEASE_INFORMATION: 'org.freedesktop.DBus.Error.Failed',
  NO_UID_SHIFT: 'org.freedesktop.DBus.Error.NotSupported',
  NO_SUCH_USER_MAPPING: 'org.freedesktop.machine1.NoSuchUserMapping',
  NO_SUCH_GROUP_MAPPING: 'org.freedesktop.machine1.NoSuchGroupMapping',
  NO_SUCH_IMAGE: 'org.freedesktop.machine1.NoSuchImage',
  NOT_SUPPORTED: 'org.freedesktop.DBus.Error.NotSupported',
  NO_SUCH_PROCESS: 'org.freedesktop.DBus.Error.UnixProcessIdUnknown',
  FILE_NOT_FOUND: 'org.freedesktop.DBus.Error.FileNotFound',
  FILE_EXISTS: 'org.freedesktop.DBus.Error.FileExists',
  UNIT_EXISTS: 'org.freedesktop.systemd1.UnitExists',
  ACCESS_DENIED: 'org.freedesktop.DBus.Error.AccessDenied',
  LIMITS_EXCEEDED: 'org.freedesktop.DBus.Error.LimitsExceeded',
  FAILED: 'org.freedesktop.DBus.Error.Failed',
} as const satisfies Record<ErrorCode, string>

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
  if (err instanceof MachinedError) return { name: DBUS_ERROR_NAME[err.code], message: err.message, unexpected: false }
  return { name: SD_BUS_ERROR.FAILED, message: 'Internal error', unexpected: true }
}
