/**
 * How mctl words a failure: one line on stderr, machinectl's text where
 * machinectl has one ("Could not kill machine: …"), never a stack trace.
 * @module
 */

import { strerror } from '../protocol/errno.ts'

/** A failure the CLI reports and exits on; `message` is the whole line. */
export class CliError extends Error {
  readonly exitCode: number
  constructor(message: string, exitCode = 1) {
    super(message)
    this.name = 'CliError'
    this.exitCode = exitCode
  }
}

/** The text after "Could not …: ": the daemon's own message, or strerror() for a system error. */
export function describeError(err: unknown): string {
  // bus_error_message() says only this for org.freedesktop.DBus.Error.AccessDenied, whatever the reply's text.
  if ((err as { code?: unknown } | null)?.code === 'ACCESS_DENIED') return 'Access denied'
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code
    const text = typeof code === 'string' ? strerror(code) : undefined
    if (text !== undefined) return text
    return err.message
  }
  return String(err)
}
