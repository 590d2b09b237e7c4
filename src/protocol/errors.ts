/**
 * The one catalogue of expected errors. The core throws these; each
 * transport maps `code` to its wire name in one table that the compiler
 * checks for completeness (see transports/dbus/errors.ts). Messages are
 * systemd's own wording where systemd has one, so real clients print the
 * same text.
 * @module
 */

export const ERROR_CODES = [
  'INVALID_ARGS',
  'NO_SUCH_MACHINE',
  'MACHINE_EXISTS',
  'NO_MACHINE_FOR_PID',
  'NO_PRIVATE_NETWORKING',
  'NO_OS_RELEASE_INFORMATION',
  'NO_UID_SHIFT',
  'NO_SUCH_USER_MAPPING',
  'NO_SUCH_GROUP_MAPPING',
  'NO_SUCH_IMAGE',
  'BUSY',
  'READ_ONLY_FILE_SYSTEM',
  'NOT_SUPPORTED',
  'NO_SUCH_PROCESS',
  'FILE_NOT_FOUND',
  'FILE_EXISTS',
  'UNIT_EXISTS',
  'ACCESS_DENIED',
  'LIMITS_EXCEEDED',
  'TOO_MANY_OPERATIONS',
  'NO_SUCH_TRANSFER',
  'TRANSFER_IN_PROGRESS',
  'FAILED',
] as const
export type ErrorCode = (typeof ERROR_CODES)[number]

const kMachinedError = Symbol.for('machined-ts.error')

export interface MachinedErrorOptions extends ErrorOptions {
  /** Name of the offending input field, for Varlink's InvalidParameter. */
  parameter?: string
  /**
   * The errno behind a FAILED error ("ENOPKG"), which sd-bus names
   * System.Error.ENOPKG and sd-varlink sends as io.systemd.System.
   */
  errnoName?: string
}

/** Base class of every expected error; callers should match on `code`. */
export class MachinedError extends Error {
  readonly code: ErrorCode
  readonly parameter: string | undefined
  readonly errnoName: string | undefined
  readonly [kMachinedError] = true

  constructor(code: ErrorCode, message: string, options: MachinedErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.parameter = options.parameter
    this.errnoName = options.errnoName
  }

  // instanceof keeps working when two copies of the package are loaded.
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== MachinedError) return Function.prototype[Symbol.hasInstance].call(this, value)
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kMachinedError] === true
  }
}

export class InvalidArgsError extends MachinedError {
  constructor(message: string, options: MachinedErrorOptions = {}) { super('INVALID_ARGS', message, options) }
}
export class NoSuchMachineError extends MachinedError {
  constructor(name: string) { super('NO_SUCH_MACHINE', `No machine '${name}' known`) }
}
export class MachineExistsError extends MachinedError {
  constructor(name: string) { super('MACHINE_EXISTS', `Machine '${name}' already exists`) }
}
export class NoMachineForPidError extends MachinedError {
  constructor(pid: number) { super('NO_MACHINE_FOR_PID', `PID ${pid} does not belong to any known machine`) }
}
export class NoPrivateNetworkingError extends MachinedError {
  constructor(name: string) { super('NO_PRIVATE_NETWORKING', `Machine ${name} does not use private networking`) }
}
export class NoOsReleaseInformationError extends MachinedError {
  constructor(message: string) { super('NO_OS_RELEASE_INFORMATION', message) }
}
export class NoUidShiftError extends MachinedError {
  constructor(message: string) { super('NO_UID_SHIFT', message) }
}
export class NoSuchImageError extends MachinedError {
  constructor(name: string) { super('NO_SUCH_IMAGE', `No image '${name}' known`) }
}
/** EBUSY: in use, e.g. an image whose lock another process holds (a container runs from it), or a name being taken. */
export class BusyError extends MachinedError {
  constructor(message = 'Device or resource busy') { super('BUSY', message) }
}
/** EROFS: the image cannot be changed where it is (the host's root, a vendor image under /usr). */
export class ReadOnlyFileSystemError extends MachinedError {
  constructor(message = 'Read-only file system') { super('READ_ONLY_FILE_SYSTEM', message) }
}
export class NotSupportedError extends MachinedError {
  constructor(message: string) { super('NOT_SUPPORTED', message) }
}
export class NoSuchProcessError extends MachinedError {
  /** `parameter` names what was not found where it is not a process: 'user' for a user the guest does not know. */
  constructor(message: string, options: { parameter?: string } = {}) { super('NO_SUCH_PROCESS', message, options) }
}
/** ENOENT, e.g. a machine whose leader is gone has no root to look into. */
export class FileNotFoundError extends MachinedError {
  constructor(message = 'No such file or directory') { super('FILE_NOT_FOUND', message) }
}
/** EEXIST: systemd 252 answers this when a leader already leads another machine. */
export class FileExistsError extends MachinedError {
  constructor(message = 'File exists') { super('FILE_EXISTS', message) }
}
/** A scope of that name exists and still holds processes (systemd#2809). */
export class UnitExistsError extends MachinedError {
  constructor(unit: string) { super('UNIT_EXISTS', `Unit ${unit} already exists.`) }
}
export class AccessDeniedError extends MachinedError {
  constructor(message = 'Access denied') { super('ACCESS_DENIED', message) }
}
export class LimitsExceededError extends MachinedError {
  constructor(message: string) { super('LIMITS_EXCEEDED', message) }
}
/** OPERATIONS_MAX long-running operations (child processes) are under way already (operation.h). */
export class TooManyOperationsError extends MachinedError {
  constructor(message = 'Too many ongoing operations.') { super('TOO_MANY_OPERATIONS', message) }
}
/** CancelTransfer of an id no transfer has (importd's BUS_ERROR_NO_SUCH_TRANSFER). */
export class NoSuchTransferError extends MachinedError {
  constructor(id: number) { super('NO_SUCH_TRANSFER', `No transfer by id ${id}`) }
}
/** A pull of a URL another pull of the same type is downloading already (BUS_ERROR_TRANSFER_IN_PROGRESS). */
export class TransferInProgressError extends MachinedError {
  constructor(remote: string) { super('TRANSFER_IN_PROGRESS', `Transfer for ${remote} already in progress.`) }
}
export class FailedError extends MachinedError {
  constructor(message: string, options: MachinedErrorOptions = {}) { super('FAILED', message, options) }
}

type ErrorClass = abstract new (...args: never[]) => MachinedError

/** The class each code is thrown as; codes without their own class are plain MachinedErrors. */
const CLASS_OF: Readonly<Record<ErrorCode, ErrorClass>> = {
  INVALID_ARGS: InvalidArgsError,
  NO_SUCH_MACHINE: NoSuchMachineError,
  MACHINE_EXISTS: MachineExistsError,
  NO_MACHINE_FOR_PID: NoMachineForPidError,
  NO_PRIVATE_NETWORKING: NoPrivateNetworkingError,
  NO_OS_RELEASE_INFORMATION: NoOsReleaseInformationError,
  NO_UID_SHIFT: NoUidShiftError,
  NO_SUCH_USER_MAPPING: MachinedError,
  NO_SUCH_GROUP_MAPPING: MachinedError,
  NO_SUCH_IMAGE: NoSuchImageError,
  BUSY: BusyError,
  READ_ONLY_FILE_SYSTEM: ReadOnlyFileSystemError,
  NOT_SUPPORTED: NotSupportedError,
  NO_SUCH_PROCESS: NoSuchProcessError,
  FILE_NOT_FOUND: FileNotFoundError,
  FILE_EXISTS: FileExistsError,
  UNIT_EXISTS: UnitExistsError,
  ACCESS_DENIED: AccessDeniedError,
  LIMITS_EXCEEDED: LimitsExceededError,
  TOO_MANY_OPERATIONS: TooManyOperationsError,
  NO_SUCH_TRANSFER: NoSuchTransferError,
  TRANSFER_IN_PROGRESS: TransferInProgressError,
  FAILED: FailedError,
}

/**
 * An error of the class `code` is thrown as, carrying `message` verbatim:
 * how a client turns a wire error back into the daemon's error.
 */
export function errorFromCode(code: ErrorCode, message: string, options: MachinedErrorOptions = {}): MachinedError {
  // Run the base constructor with the subclass as new.target: the right class, the exact message.
  return Reflect.construct(MachinedError, [code, message, options], CLASS_OF[code]) as MachinedError
}
