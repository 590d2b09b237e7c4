/**
 * Error codes → D-Bus error names, in one table the compiler checks for
 * completeness (systemd's bus-common-errors.c plays this part). The daemon
 * answers with these names; the client maps them back to the same codes.
 * @module
 */

import type { ErrorCode } from '../errors.ts'

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
  // sd-bus names errnos it has no name for itself "System.Error.<ERRNO>" (errno_to_bus_error_name_new()).
  BUSY: 'System.Error.EBUSY',
  READ_ONLY_FILE_SYSTEM: 'System.Error.EROFS',
  NOT_SUPPORTED: 'org.freedesktop.DBus.Error.NotSupported',
  NO_SUCH_PROCESS: 'org.freedesktop.DBus.Error.UnixProcessIdUnknown',
  FILE_NOT_FOUND: 'org.freedesktop.DBus.Error.FileNotFound',
  FILE_EXISTS: 'org.freedesktop.DBus.Error.FileExists',
  UNIT_EXISTS: 'org.freedesktop.systemd1.UnitExists',
  ACCESS_DENIED: 'org.freedesktop.DBus.Error.AccessDenied',
  LIMITS_EXCEEDED: 'org.freedesktop.DBus.Error.LimitsExceeded',
  // sd_bus_error_set(SD_BUS_ERROR_LIMITS_EXCEEDED, "Too many ongoing operations.") wherever OPERATIONS_MAX is hit.
  TOO_MANY_OPERATIONS: 'org.freedesktop.DBus.Error.LimitsExceeded',
  NO_SUCH_TRANSFER: 'org.freedesktop.import1.NoSuchTransfer',
  TRANSFER_IN_PROGRESS: 'org.freedesktop.import1.TransferInProgress',
  FAILED: 'org.freedesktop.DBus.Error.Failed',
} as const satisfies Record<ErrorCode, string>
