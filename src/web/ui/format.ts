/**
 * Figures as the page shows them.
 * @module
 */

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–'
  const units = ['B', 'K', 'M', 'G', 'T']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++ }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 1 : 0)}${units[u]}`
}

export function formatPercent(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : `${n.toFixed(n < 10 ? 1 : 0)}%`
}

export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : String(n)
}

/** "3min 2s ago", "2h 5min ago", as machinectl words it (roughly). */
export function formatSince(ms: number, now = Date.now()): string {
  if (ms <= 0) return '–'
  let s = Math.max(0, Math.round((now - ms) / 1000))
  const d = Math.floor(s / 86400); s -= d * 86400
  const h = Math.floor(s / 3600); s -= h * 3600
  const m = Math.floor(s / 60); s -= m * 60
  const parts = d > 0 ? [`${d}d`, `${h}h`] : h > 0 ? [`${h}h`, `${m}min`] : m > 0 ? [`${m}min`, `${s}s`] : [`${s}s`]
  return `${parts.join(' ')} ago`
}

export function formatTimestamp(ms: number): string {
  return ms <= 0 ? '–' : new Date(ms).toLocaleString()
}
