/**
 * A failure the kernel reported (an errno), as the error a caller gets:
 * sd-bus's errno → name table (bus-error.c), which systemd uses whenever a
 * method fails with a bare errno, mapped onto our codes. errnos the table
 * does not name become Failed with the same message (systemd would send
 * System.Error.E…; clients print only the message).
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
}

/** `message` is the whole text the caller sees (systemd's "%m" expands to strerror()). */
export function errnoError(errnoName: string, message: string): MachinedError {
  return errorFromCode(CODE_OF_ERRNO[errnoName] ?? 'FAILED', message)
}
