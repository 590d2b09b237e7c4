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

import { MachinedError, type ErrorCode } from '../../protocol/errors.ts'
import { MACHINE_ERRORS } from '../../protocol/varlink/io.systemd.Machine.ts'
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

type WireError = { readonly name: string } | { readonly errnoName: string; readonly errno: number }

export const VARLINK_ERROR = {
  // Replaced by InvalidParameter {parameter} whenever the core names the field.
  INVALID_ARGS: { errnoName: 'EINVAL', errno: 22 },
  NO_SUCH_MACHINE: { name: MACHINE_ERRORS.NO_SUCH_MACHINE },
  MACHINE_EXISTS: { name: MACHINE_ERRORS.MACHINE_EXISTS },
  // Varlink has no NoMachineForPID: a lookup by PID that finds nothing is NoSuchMachine.
  NO_MACHINE_FOR_PID: { name: MACHINE_ERRORS.NO_SUCH_MACHINE },
  NO_PRIVATE_NETWORKING: { name: MACHINE_ERRORS.NO_PRIVATE_NETWORKING },
  NO_OS_RELEASE_INFORMATION: { name: MACHINE_ERRORS.NO_OS_RELEASE_INFORMATION },
  NO_UID_SHIFT: { name: MACHINE_ERRORS.NO_UID_SHIFT },
  NO_SUCH_USER_MAPPING: { name: MACHINE_ERRORS.NO_SUCH_USER },
  NO_SUCH_GROUP_MAPPING: { name: MACHINE_ERRORS.NO_SUCH_GROUP },
  NO_SUCH_IMAGE: { name: 'io.systemd.MachineImage.NoSuchImage' },
  NOT_SUPPORTED: { name: MACHINE_ERRORS.NOT_SUPPORTED },
  NO_SUCH_PROCESS: { errnoName: 'ESRCH', errno: 3 },
  FILE_NOT_FOUND: { errnoName: 'ENOENT', errno: 2 },
  FILE_EXISTS: { errnoName: 'EEXIST', errno: 17 },
  UNIT_EXISTS: { errnoName: 'EEXIST', errno: 17 },
  // What a polkit refusal becomes in sd-varlink.
  ACCESS_DENIED: { name: SERVICE_ERRORS.PERMISSION_DENIED },
  LIMITS_EXCEEDED: { errnoName: 'ENOBUFS', errno: 105 },
  FAILED: { errnoName: 'EIO', errno: 5 },
} as const satisfies Record<ErrorCode, WireError>

export interface WireReplyError {
  readonly error: VarlinkError
  /** True when this is not an expected error and should be logged. */
  readonly unexpected: boolean
}

export function toVarlinkError(err: unknown): WireReplyError {
  if (err instanceof VarlinkError) return { error: err, unexpected: false }
  if (err instanceof MachinedError) {
    if (err.code === 'INVALID_ARGS' && err.parameter !== undefined) return { error: invalidParameter(err.parameter), unexpected: false }
    const wire: WireError = VARLINK_ERROR[err.code]
    const error = 'name' in wire ? new VarlinkError(wire.name) : systemError(wire.errnoName, wire.errno)
    return { error, unexpected: false }
  }
  return { error: systemError('EIO', 5), unexpected: true }
}
