/**
 * A log that keeps its lines (the Log port), for tests to read.
 * @module
 */

import type { Log } from '../../src/core/ports.ts'

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error'
  readonly message: string
  readonly fields: Record<string, unknown> | undefined
}

export class FakeLog implements Log {
  readonly lines: LogLine[] = []
  debug(message: string, fields?: Record<string, unknown>): void { this.lines.push({ level: 'debug', message, fields }) }
  info(message: string, fields?: Record<string, unknown>): void { this.lines.push({ level: 'info', message, fields }) }
  warn(message: string, fields?: Record<string, unknown>): void { this.lines.push({ level: 'warn', message, fields }) }
  error(message: string, fields?: Record<string, unknown>): void { this.lines.push({ level: 'error', message, fields }) }

  messages(level?: LogLine['level']): string[] {
    return this.lines.filter((l) => level === undefined || l.level === level).map((l) => l.message)
  }
}
