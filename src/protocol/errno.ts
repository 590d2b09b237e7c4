/**
 * A failure the kernel reported (an errno), as the error a caller gets:
 * sd-bus's errno → name table (bus-error.c), which systemd uses whenever a
 * method fails with a bare errno, mapped onto our codes. errnos the table
 * does not name are FAILED errors that carry the errno: sd-bus names them
 * System.Error.E… (as systemd answers), sd-varlink sends io.systemd.System
 * with the errno.
 * @module
 */

import { errorFromCode, type ErrorCode, type MachinedError } from './errors.ts'

const CODE_OF_ERRNO: Readonly<Record<string, ErrorCode>> = {
  EPERM: 'ACCESS_DENIED',
  EACCES: 'ACCESS_DENIED',
  EINVAL: 'INVALID_ARGS',
  ESRCH: 'NO_SUCH_PROCESS',
  ENOENT: 'FILE_NOT_FOUND',
  EEXIST: 'FILE_EXISTS',
  EOPNOTSUPP: 'NOT_SUPPORTED',
  ENOTSUP: 'NOT_SUPPORTED',
  ENOBUFS: 'LIMITS_EXCEEDED',
  // Named by sd-bus as System.Error.EBUSY and System.Error.EROFS; images answer with them.
  EBUSY: 'BUSY',
  EROFS: 'READ_ONLY_FILE_SYSTEM',
}

/** `message` is the whole text the caller sees (systemd's "%m" expands to strerror()). */
export function errnoError(errnoName: string, message: string): MachinedError {
  return errorFromCode(CODE_OF_ERRNO[errnoName] ?? 'FAILED', message, { errnoName })
}

/** glibc's errno numbers (x86-64 and arm64 alike) and strerror() for the errnos machined-ts meets on sockets, processes and files. */
const ERRNO: Readonly<Record<string, readonly [number, string]>> = {
  EPERM: [1, 'Operation not permitted'],
  ENOENT: [2, 'No such file or directory'],
  ESRCH: [3, 'No such process'],
  EIO: [5, 'Input/output error'],
  ENXIO: [6, 'No such device or address'],
  E2BIG: [7, 'Argument list too long'],
  EBADF: [9, 'Bad file descriptor'],
  EAGAIN: [11, 'Resource temporarily unavailable'],
  EACCES: [13, 'Permission denied'],
  EBUSY: [16, 'Device or resource busy'],
  EEXIST: [17, 'File exists'],
  EXDEV: [18, 'Invalid cross-device link'],
  ENOTDIR: [20, 'Not a directory'],
  EISDIR: [21, 'Is a directory'],
  EINVAL: [22, 'Invalid argument'],
  ENOTTY: [25, 'Inappropriate ioctl for device'],
  EFBIG: [27, 'File too large'],
  ENOSPC: [28, 'No space left on device'],
  EROFS: [30, 'Read-only file system'],
  EPIPE: [32, 'Broken pipe'],
  ENAMETOOLONG: [36, 'File name too long'],
  ENOTEMPTY: [39, 'Directory not empty'],
  ELOOP: [40, 'Too many levels of symbolic links'],
  ENOPKG: [65, 'Package not installed'],
  EPROTO: [71, 'Protocol error'],
  EBADMSG: [74, 'Bad message'],
  ENOTSOCK: [88, 'Socket operation on non-socket'],
  EOPNOTSUPP: [95, 'Operation not supported'],
  ENOTSUP: [95, 'Operation not supported'],
  ECONNRESET: [104, 'Connection reset by peer'],
  ETIMEDOUT: [110, 'Connection timed out'],
  ECONNREFUSED: [111, 'Connection refused'],
  EDQUOT: [122, 'Disk quota exceeded'],
  ECANCELED: [125, 'Operation canceled'],
  ENOMEDIUM: [123, 'No medium found'],
}

/** strerror() of an errno name; undefined for one not in the table. */
export function strerror(errnoName: string): string | undefined {
  return ERRNO[errnoName]?.[1]
}

/** The errno name whose strerror() `text` ends with ("cp: error writing 'x': No space left on device" → ENOSPC). */
export function errnoOfMessage(text: string): string | undefined {
  for (const [name, [, message]] of Object.entries(ERRNO)) if (text.endsWith(`: ${message}`)) return name
  return undefined
}

/** The errno's number; undefined for a name not in the table. */
export function errnoNumber(errnoName: string): number | undefined {
  return ERRNO[errnoName]?.[0]
}

/**
 * A failure the kernel reported, as a MachinedError whose message is
 * strerror() (after `prefix`, when given); names not in the table keep
 * `fallback` (a tool's own words).
 */
export function errnoFailure(errnoName: string, fallback: string, prefix = ''): MachinedError {
  return errnoError(errnoName, `${prefix}${strerror(errnoName) ?? fallback}`)
}
