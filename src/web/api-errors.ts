/**
 * Errors as the JSON API answers them: the daemon's own error name and
 * code (docs/errors.md), with an HTTP status from one table the compiler
 * checks for completeness.
 * @module
 */

import { DBUS_ERROR_NAME } from '../protocol/dbus/errors.ts'
import { MachinedError, type ErrorCode } from '../protocol/errors.ts'
import type { ApiError } from './api-types.ts'

const HTTP_STATUS = {
  INVALID_ARGS: 400,
  NO_SUCH_MACHINE: 404,
  MACHINE_EXISTS: 409,
  NO_MACHINE_FOR_PID: 404,
  NO_PRIVATE_NETWORKING: 409,
  NO_OS_RELEASE_INFORMATION: 404,
  NO_UID_SHIFT: 409,
  NO_SUCH_USER_MAPPING: 404,
  NO_SUCH_GROUP_MAPPING: 404,
  NO_SUCH_IMAGE: 404,
  BUSY: 409,
  READ_ONLY_FILE_SYSTEM: 409,
  NOT_SUPPORTED: 501,
  NO_SUCH_PROCESS: 404,
  FILE_NOT_FOUND: 404,
  FILE_EXISTS: 409,
  UNIT_EXISTS: 409,
  ACCESS_DENIED: 403,
  LIMITS_EXCEEDED: 503,
  TOO_MANY_OPERATIONS: 503,
  NO_SUCH_TRANSFER: 404,
  TRANSFER_IN_PROGRESS: 409,
  FAILED: 500,
} as const satisfies Record<ErrorCode, number>

export type HttpStatus = 400 | 401 | 403 | 404 | 409 | 500 | 501 | 503

/** The status and body for `err` (an unknown error becomes Failed, its text kept). */
export function apiError(err: unknown): { status: HttpStatus; body: ApiError } {
  if (err instanceof MachinedError) return { status: HTTP_STATUS[err.code], body: { error: DBUS_ERROR_NAME[err.code], code: err.code, message: err.message } }
  return { status: 500, body: { error: DBUS_ERROR_NAME.FAILED, code: 'FAILED', message: err instanceof Error ? err.message : String(err) } }
}

/** The body of a 401: no machine data, only what to do. */
export const UNAUTHORIZED: ApiError = {
  error: 'Unauthorized', code: 'UNAUTHORIZED', message: 'Log in with the token in /run/machined-web/token, or send it as "Authorization: Bearer TOKEN"',
}

/** The body of a refused cross-origin request. */
export const CROSS_ORIGIN: ApiError = { error: 'CrossOrigin', code: 'CROSS_ORIGIN', message: 'Cross-origin requests are refused' }
