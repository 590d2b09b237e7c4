/**
 * A progress bar on stderr for copies that take a while (machinectl has
 * none: the copy runs inside machined and the call just waits). The daemon
 * reports no progress, so the bar compares what has arrived at the
 * destination with the size of the source, both looked at from outside;
 * without a size to compare with, it counts bytes and seconds.
 * @module
 */

const UNITS = ['B', 'K', 'M', 'G', 'T'] as const

/** format_bytes(): 1023B, 1.5K, 12.3M, … */
export function formatBytes(n: number): string {
  let v = n
  let i = 0
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${v}B` : `${v.toFixed(1)}${UNITS[i]}`
}

/**
 * One line of progress, at most `columns` wide: a bar with the percentage
 * when the total is known, bytes and seconds otherwise.
 */
export function formatProgress(label: string, done: number, total: number | undefined, elapsedMs: number, columns: number): string {
  if (total === undefined || total <= 0) return `${label} ${formatBytes(done)} (${Math.floor(elapsedMs / 1000)}s)`.slice(0, columns)
  const ratio = Math.min(done / total, 1)
  const tail = ` ${String(Math.floor(ratio * 100)).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)}`
  const width = columns - label.length - tail.length - 3
  if (width < 5) return `${label}${tail}`.slice(0, columns)
  const filled = Math.round(ratio * width)
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]${tail}`
}
