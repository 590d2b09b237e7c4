/**
 * Error codes → Varlink errors, in one table the compiler checks for
 * completeness (the VARLINK_ERROR_* names of systemd's Varlink bindings).
 * Codes without a Varlink name of their own travel the way sd-varlink sends
 * a bare errno: io.systemd.System {origin: "linux", errno, errnoName}. The
 * daemon answers with these; the client maps them back to the same codes.
 * @module
 */

import type { ErrorCode } from '../errors.ts'
import { MACHINE_ERRORS } from './io.systemd.Machine.ts'
import { SERVICE_ERRORS } from './org.varlink.service.ts'

/** A Varlink error name of its own, or a bare errno as io.systemd.System carries it. */
export type VarlinkWireError = { readonly name: string } | { readonly errnoName: string; readonly errno: number }

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
  BUSY: { errnoName: 'EBUSY', errno: 16 },
  READ_ONLY_FILE_SYSTEM: { errnoName: 'EROFS', errno: 30 },
  NOT_SUPPORTED: { name: MACHINE_ERRORS.NOT_SUPPORTED },
  NO_SUCH_PROCESS: { errnoName: 'ESRCH', errno: 3 },
  FILE_NOT_FOUND: { errnoName: 'ENOENT', errno: 2 },
  FILE_EXISTS: { errnoName: 'EEXIST', errno: 17 },
  UNIT_EXISTS: { errnoName: 'EEXIST', errno: 17 },
  // What a polkit refusal becomes in sd-varlink.
  ACCESS_DENIED: { name: SERVICE_ERRORS.PERMISSION_DENIED },
  LIMITS_EXCEEDED: { errnoName: 'ENOBUFS', errno: 105 },
  TOO_MANY_OPERATIONS: { name: MACHINE_ERRORS.TOO_MANY_OPERATIONS },
  // io.systemd.Import has no cancelling: a transfer that is not there is ENOENT.
  NO_SUCH_TRANSFER: { errnoName: 'ENOENT', errno: 2 },
  TRANSFER_IN_PROGRESS: { name: 'io.systemd.Import.AlreadyInProgress' },
  FAILED: { errnoName: 'EIO', errno: 5 },
} as const satisfies Record<ErrorCode, VarlinkWireError>
