/**
 * How mctl words a failure: one line on stderr, machinectl's text where
 * machinectl has one ("Could not kill machine: …"), never a stack trace.
 * @module
 */

/** A failure the CLI reports and exits on; `message` is the whole line. */
export class CliError extends Error {
  readonly exitCode: number
  constructor(message: string, exitCode = 1) {
    super(message)
    this.name = 'CliError'
    this.exitCode = exitCode
  }
}

/** strerror() for the errno names Node reports on sockets and files. */
const STRERROR: Readonly<Record<string, string>> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  EPIPE: 'Broken pipe',
  ETIMEDOUT: 'Connection timed out',
  ENOTSOCK: 'Socket operation on non-socket',
  EAGAIN: 'Resource temporarily unavailable',
  ENOTDIR: 'Not a directory',
  EINVAL: 'Invalid argument',
}

/** The text after "Could not …: ": the daemon's own message, or strerror() for a system error. */
export function describeError(err: unknown): string {
  // bus_error_message() says only this for org.freedesktop.DBus.Error.AccessDenied, whatever the reply's text.
  if ((err as { code?: unknown } | null)?.code === 'ACCESS_DENIED') return 'Access denied'
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code
    if (typeof code === 'string' && STRERROR[code] !== undefined) return STRERROR[code]
    return err.message
  }
  return String(err)
}
