/**
 * Structured logging to stderr, one logfmt line per event:
 *   time=2026-11-25T14:05:40.123Z level=info msg="New machine" machine=foo
 * Only the daemon and the transports log; the core reports through events.
 * @module
 */

import type { Log } from '../core/ports.ts'

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

function quote(value: unknown): string {
  const s = typeof value === 'string' ? value : typeof value === 'bigint' ? value.toString() : JSON.stringify(value) ?? 'undefined'
  return /^[A-Za-z0-9_./:@+-]+$/.test(s) ? s : JSON.stringify(s)
}

export class StderrLog implements Log {
  readonly #min: number
  readonly #write: (line: string) => void

  constructor(level: LogLevel, write: (line: string) => void = (line) => process.stderr.write(line)) {
    this.#min = LOG_LEVELS.indexOf(level)
    this.#write = write
  }

  #log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
    if (LOG_LEVELS.indexOf(level) < this.#min) return
    let line = `time=${new Date().toISOString()} level=${level} msg=${quote(message)}`
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${quote(v)}`
    this.#write(`${line}\n`)
  }

  debug(message: string, fields?: Record<string, unknown>): void { this.#log('debug', message, fields) }
  info(message: string, fields?: Record<string, unknown>): void { this.#log('info', message, fields) }
  warn(message: string, fields?: Record<string, unknown>): void { this.#log('warn', message, fields) }
  error(message: string, fields?: Record<string, unknown>): void { this.#log('error', message, fields) }
}
