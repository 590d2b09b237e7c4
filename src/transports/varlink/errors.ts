/**
 * Error codes → Varlink errors, in one table the compiler checks for
 * completeness (the counterpart of transports/dbus/errors.ts, and of the
 * VARLINK_ERROR_* names systemd's Varlink bindings use). Codes without a
 * Varlink name of their own go out the way sd-varlink sends a bare errno:
 * io.systemd.System {origin: "linux", errno, errnoName}. Errors that are
 * not ours (bugs, I/O failures) become io.systemd.System EIO and are
 * logged by the server.
 * @module
 */

import { errnoNumber } from '../../protocol/errno.ts'
import { MachinedError } from '../../protocol/errors.ts'
import { VARLINK_ERROR, type VarlinkWireError } from '../../protocol/varlink/errors.ts'
import { SERVICE_ERRORS, SYSTEM_ERROR } from '../../protocol/varlink/org.varlink.service.ts'

/** An error reply; thrown by method handlers and the dispatcher. */
export class VarlinkError extends Error {
  /** The error name on the wire, e.g. io.systemd.Machine.NoSuchMachine. */
  readonly error: string
  readonly parameters: Readonly<Record<string, unknown>>

  constructor(error: string, parameters: Record<string, unknown> = {}) {
    super(error)
    this.name = 'VarlinkError'
    this.error = error
    this.parameters = parameters
  }
}

export function invalidParameter(parameter: string): VarlinkError {
  return new VarlinkError(SERVICE_ERRORS.INVALID_PARAMETER, { parameter })
}

/** sd_varlink_error_errno(): errno is positive on the wire. */
export function systemError(errnoName: string, errno: number): VarlinkError {
  return new VarlinkError(SYSTEM_ERROR, { origin: 'linux', errno, errnoName })
}


export interface WireReplyError {
  readonly error: VarlinkError
  /** True when this is not an expected error and should be logged. */
  readonly unexpected: boolean
}

export function toVarlinkError(err: unknown): WireReplyError {
  if (err instanceof VarlinkError) return { error: err, unexpected: false }
  if (err instanceof MachinedError) {
    if (err.code === 'INVALID_ARGS' && err.parameter !== undefined) return { error: invalidParameter(err.parameter), unexpected: false }
    const errno = err.code === 'FAILED' && err.errnoName !== undefined ? errnoNumber(err.errnoName) : undefined
    if (errno !== undefined) return { error: systemError(err.errnoName!, errno), unexpected: false }
    const wire: VarlinkWireError = VARLINK_ERROR[err.code]
    const error = 'name' in wire ? new VarlinkError(wire.name) : systemError(wire.errnoName, wire.errno)
    return { error, unexpected: false }
  }
  return { error: systemError('EIO', 5), unexpected: true }
}
