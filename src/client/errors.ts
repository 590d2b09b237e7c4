/**
 * Wire errors back into the daemon's own error classes, so a caller sees
 * NoSuchMachineError (code NO_SUCH_MACHINE) whichever transport it used.
 * Match on `err.code`: it stays stable and works across bundled copies.
 * @module
 */

import { DBUS_ERROR_NAME } from '../protocol/dbus/errors.ts'
import { strerror } from '../protocol/errno.ts'
import { errorFromCode, ERROR_CODES, MachinedError, type ErrorCode } from '../protocol/errors.ts'
import { VARLINK_ERROR } from '../protocol/varlink/errors.ts'
import { SERVICE_ERRORS } from '../protocol/varlink/org.varlink.service.ts'

/** Neither the Varlink socket nor the bus has a machined answering. */
export class MachinedUnavailableError extends Error {
  readonly code = 'UNAVAILABLE'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'MachinedUnavailableError'
  }
}

/** Several codes share a wire name; the first listed here wins when mapping back. */
const PREFERRED: readonly ErrorCode[] = ['FAILED', 'NOT_SUPPORTED', 'FILE_EXISTS', 'NO_SUCH_MACHINE', 'INVALID_ARGS']

function reverse(table: (code: ErrorCode) => string | undefined): Map<string, ErrorCode> {
  const out = new Map<string, ErrorCode>()
  for (const code of [...PREFERRED, ...ERROR_CODES]) {
    const name = table(code)
    if (name !== undefined && !out.has(name)) out.set(name, code)
  }
  return out
}

const FROM_DBUS = reverse((code) => DBUS_ERROR_NAME[code])
const FROM_VARLINK = reverse((code) => { const w = VARLINK_ERROR[code]; return 'name' in w ? w.name : undefined })
// io.systemd.MachineImage's own names for errors io.systemd.Machine names too.
FROM_VARLINK.set('io.systemd.MachineImage.TooManyOperations', 'TOO_MANY_OPERATIONS')
FROM_VARLINK.set('io.systemd.MachineImage.NotSupported', 'NOT_SUPPORTED')
const FROM_ERRNO = reverse((code) => { const w = VARLINK_ERROR[code]; return 'errnoName' in w ? w.errnoName : undefined })

/** A D-Bus ERROR reply (name and text) as the daemon's error. */
export function fromDbusError(name: string, message: string): MachinedError {
  const code = FROM_DBUS.get(name)
  // sd-bus's name for an errno it has none for: System.Error.ENOPKG.
  const errnoName = code === undefined && name.startsWith('System.Error.') ? name.slice('System.Error.'.length) : undefined
  return errorFromCode(code ?? 'FAILED', message, errnoName === undefined ? {} : { errnoName })
}

/**
 * A Varlink error reply as the daemon's error. Varlink errors carry no
 * text, so `describe` words it the way the D-Bus answer would.
 */
export function fromVarlinkError(error: string, parameters: Record<string, unknown>, describe: (code: ErrorCode) => string): MachinedError {
  if (error === SERVICE_ERRORS.INVALID_PARAMETER) {
    const parameter = typeof parameters.parameter === 'string' ? parameters.parameter : 'unknown'
    return errorFromCode('INVALID_ARGS', `Invalid parameter '${parameter}'`, { parameter })
  }
  const errnoName = typeof parameters.errnoName === 'string' ? parameters.errnoName : undefined
  const code = (errnoName === undefined ? undefined : FROM_ERRNO.get(errnoName)) ?? FROM_VARLINK.get(error) ?? 'FAILED'
  // A bare errno reads as strerror(), as the D-Bus reply's text would.
  const text = errnoName === undefined ? undefined : strerror(errnoName)
  const message = code === 'FAILED' ? text ?? `${error}${errnoName === undefined ? '' : ` (${errnoName})`}` : describe(code)
  return errorFromCode(code, message, errnoName === undefined ? {} : { errnoName })
}
