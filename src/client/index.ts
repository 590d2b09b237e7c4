/**
 * machined-ts: the client library for VM and container managers.
 *
 * ```ts
 * import { connect } from 'machined-ts'
 * const machined = await connect()
 * await machined.register({ name: 'web', class: 'container', leader: child.pid, service: 'my-manager' })
 * ```
 *
 * Errors are the daemon's own, whichever transport carried them: match on
 * `err.code` ('NO_SUCH_MACHINE', 'MACHINE_EXISTS', …; docs/errors.md) or use
 * instanceof with the classes exported here.
 * @module
 */

export { connect, connectIfAvailable, registerIfAvailable } from './connect.ts'
export { MachinedUnavailableError } from './errors.ts'
export type {
  BindOptions, BusProperty, ConnectOptions, CopyOptions, KillOptions, MachineAddress, MachineDescription, MachineDetails, MachineEvent, MachineListEntry, MachinePty,
  MachineSummary, MachinedClient, RegisterOptions, ScopeProperty, ShellOptions,
} from './types.ts'
export {
  AccessDeniedError, ERROR_CODES, FailedError, FileExistsError, FileNotFoundError, InvalidArgsError, LimitsExceededError,
  MachineExistsError, MachinedError, NoMachineForPidError, NoOsReleaseInformationError, NoPrivateNetworkingError,
  NoSuchMachineError, NoSuchProcessError, NotSupportedError, NoUidShiftError, UnitExistsError, type ErrorCode,
  BusyError, NoSuchImageError, ReadOnlyFileSystemError,
} from '../protocol/errors.ts'
export type { KillWhom, MachineClass, MachineState } from '../protocol/vocabulary.ts'
export type { CleanedImage, ImageClient, ImageInside, ImageRecord, ImageType, PoolInfo } from './image-types.ts'
