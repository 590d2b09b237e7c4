/**
 * A progress bar on stderr for copies that take a while (machinectl has
 * none: the copy runs inside machined and the call just waits). The daemon
 * reports no progress, so the bar compares what has arrived at the
 * destination with the size of the source, both looked at from outside;
 * without a size to compare with, it counts bytes and seconds.
 * @module
 */

import { formatBytes as formatBytesOf } from './output/bytes.ts'
import type { VerbContext } from './verb.ts'

/** Work shorter than this prints no bar at all. */
const PROGRESS_DELAY_MS = 500
const PROGRESS_TICK_MS = 250

/** Where a bar's figures come from, looked at from outside: the size to reach (when known) and how far it got. */
export interface ProgressSource {
  total(): Promise<number | undefined>
  done(): Promise<number>
  /** The figures are percent (a transfer's Progress), not bytes. */
  readonly percent?: boolean
}

/**
 * Draws a progress bar on stderr, when it is a terminal and not --quiet,
 * once the work has run for a moment; the returned function stops it and
 * clears the line.
 */
export function startProgressBar(ctx: VerbContext, label: string, source: ProgressSource): () => void {
  const columns = ctx.io.errTerminalColumns
  if (columns === undefined || ctx.options.quiet) return () => undefined
  const started = Date.now()
  let drawn = false
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  const tick = async (total: number | undefined): Promise<void> => {
    const done = await source.done().catch(() => 0)
    if (stopped) return
    ctx.io.err(`\r${formatProgress(label, done, total, Date.now() - started, columns - 1, source.percent === true)}\x1b[K`)
    drawn = true
    timer = setTimeout(() => { void tick(total) }, PROGRESS_TICK_MS)
  }
  timer = setTimeout(() => {
    void source.total().catch(() => undefined).then(async (total) => { if (!stopped) await tick(total) })
  }, PROGRESS_DELAY_MS)
  return () => {
    stopped = true
    clearTimeout(timer)
    if (drawn) ctx.io.err('\r\x1b[K')
  }
}

/** format_bytes() of a count of bytes. */
export function formatBytes(n: number): string {
  return formatBytesOf(BigInt(Math.max(0, Math.floor(n)))) ?? '-'
}

/**
 * One line of progress, at most `columns` wide: a bar with the percentage
 * when the total is known, bytes and seconds otherwise.
 */
export function formatProgress(label: string, done: number, total: number | undefined, elapsedMs: number, columns: number, percent = false): string {
  const seconds = `(${Math.floor(elapsedMs / 1000)}s)`
  if (total === undefined || total <= 0) return (percent ? `${label} ${seconds}` : `${label} ${formatBytes(done)} ${seconds}`).slice(0, columns)
  const ratio = Math.min(done / total, 1)
  const tail = ` ${String(Math.floor(ratio * 100)).padStart(3)}%${percent ? '' : ` ${formatBytes(done)}/${formatBytes(total)}`}`
  const width = columns - label.length - tail.length - 3
  if (width < 5) return `${label}${tail}`.slice(0, columns)
  const filled = Math.round(ratio * width)
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]${tail}`
}
