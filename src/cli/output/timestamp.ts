/**
 * systemd's time-util.c formatters, as machinectl prints times:
 * format_timestamp() ("Wed 2026-11-25 14:05:40 UTC", local time, English
 * weekday), format_timestamp_relative() ("7s ago", "6min ago") and
 * format_timespan() ("1min 30.500000s"). Times are µs since the epoch as
 * bigint, as D-Bus carries them.
 * @module
 */

import { localZoneAt } from './timezone.ts'

const USEC_INFINITY = 0xffff_ffff_ffff_ffffn
/** The last µs whose year still has four digits (time-util.h, 64-bit time_t). */
const USEC_TIMESTAMP_FORMATTABLE_MAX = 253_402_214_399_999_999n
/** FORMAT_TIMESTAMP_MAX: what does not fit in systemd's buffer loses its zone name. */
const FORMAT_TIMESTAMP_MAX = 38

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const

const USEC_PER_SEC = 1_000_000n
const USEC_PER_MSEC = 1000n
const USEC_PER_MINUTE = 60n * USEC_PER_SEC
const USEC_PER_HOUR = 60n * USEC_PER_MINUTE
const USEC_PER_DAY = 24n * USEC_PER_HOUR
const USEC_PER_WEEK = 7n * USEC_PER_DAY
const USEC_PER_MONTH = 2_629_800n * USEC_PER_SEC
const USEC_PER_YEAR = 31_557_600n * USEC_PER_SEC

/** timestamp_is_set(): 0 and infinity mean "never". */
export function timestampIsSet(usec: bigint): boolean {
  return usec > 0n && usec !== USEC_INFINITY
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0')

/**
 * format_timestamp() in TIMESTAMP_PRETTY style; undefined for an unset
 * timestamp (machinectl then prints nothing, or an empty value).
 */
export function formatTimestamp(usec: bigint, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!timestampIsSet(usec)) return undefined
  if (usec > USEC_TIMESTAMP_FORMATTABLE_MAX) return '--- XXXX-XX-XX XX:XX:XX'
  const sec = Number(usec / USEC_PER_SEC)
  const zone = localZoneAt(sec, env)
  const d = new Date((sec + zone.offset) * 1000)
  const text = `${WEEKDAYS[d.getUTCDay()]} ${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} `
    + `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  // A zone name too long for the buffer is left out rather than cut.
  if (zone.abbreviation === '' || text.length + 1 + zone.abbreviation.length + 1 > FORMAT_TIMESTAMP_MAX) return text
  return `${text} ${zone.abbreviation}`
}

/** CLOCK_REALTIME in µs. */
export function nowUsec(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000))
}

const plural = (n: bigint, one: string, many: string): string => `${n} ${n === 1n ? one : many}`

/** format_timestamp_relative(): "7s ago", "1 day 2h left", "now"; undefined for an unset timestamp. */
export function formatTimestampRelative(usec: bigint, now: bigint = nowUsec()): string | undefined {
  if (!timestampIsSet(usec)) return undefined
  const [d, s] = now > usec ? [now - usec, 'ago'] : [usec - now, 'left']
  if (d >= USEC_PER_YEAR) {
    return `${plural(d / USEC_PER_YEAR, 'year', 'years')} ${plural((d % USEC_PER_YEAR) / USEC_PER_MONTH, 'month', 'months')} ${s}`
  }
  if (d >= USEC_PER_MONTH) {
    return `${plural(d / USEC_PER_MONTH, 'month', 'months')} ${plural((d % USEC_PER_MONTH) / USEC_PER_DAY, 'day', 'days')} ${s}`
  }
  if (d >= USEC_PER_WEEK) {
    return `${plural(d / USEC_PER_WEEK, 'week', 'weeks')} ${plural((d % USEC_PER_WEEK) / USEC_PER_DAY, 'day', 'days')} ${s}`
  }
  if (d >= 2n * USEC_PER_DAY) return `${d / USEC_PER_DAY} days ${s}`
  if (d >= 25n * USEC_PER_HOUR) return `1 day ${(d - USEC_PER_DAY) / USEC_PER_HOUR}h ${s}`
  if (d >= 6n * USEC_PER_HOUR) return `${d / USEC_PER_HOUR}h ${s}`
  if (d >= USEC_PER_HOUR) return `${d / USEC_PER_HOUR}h ${(d % USEC_PER_HOUR) / USEC_PER_MINUTE}min ${s}`
  if (d >= 5n * USEC_PER_MINUTE) return `${d / USEC_PER_MINUTE}min ${s}`
  if (d >= USEC_PER_MINUTE) return `${d / USEC_PER_MINUTE}min ${(d % USEC_PER_MINUTE) / USEC_PER_SEC}s ${s}`
  if (d >= USEC_PER_SEC) return `${d / USEC_PER_SEC}s ${s}`
  if (d >= USEC_PER_MSEC) return `${d / USEC_PER_MSEC}ms ${s}`
  if (d > 0n) return `${d}us ${s}`
  return 'now'
}

const SPAN_UNITS: readonly (readonly [string, bigint])[] = [
  ['y', USEC_PER_YEAR], ['month', USEC_PER_MONTH], ['w', USEC_PER_WEEK], ['d', USEC_PER_DAY], ['h', USEC_PER_HOUR],
  ['min', USEC_PER_MINUTE], ['s', USEC_PER_SEC], ['ms', USEC_PER_MSEC], ['us', 1n],
]

/**
 * format_timespan(): "1min 30.500000s", "infinity", "0". Below a minute
 * the rest is written as a fraction, to `accuracy` (µs).
 */
export function formatTimespan(usec: bigint, accuracy = 0n): string {
  if (usec === USEC_INFINITY) return 'infinity'
  if (usec <= 0n) return '0'
  let t = usec
  const parts: string[] = []
  for (const [suffix, unit] of SPAN_UNITS) {
    if (t <= 0n) break
    if (t < accuracy && parts.length > 0) break
    if (t < unit) continue
    const a = t / unit
    let b = t % unit
    if (t < USEC_PER_MINUTE && b > 0n) {
      // Digits of the unit, less those finer than the accuracy.
      let j = 0
      for (let cc = unit; cc > 1n; cc /= 10n) j++
      for (let cc = accuracy; cc > 1n; cc /= 10n) { b /= 10n; j-- }
      if (j > 0) {
        parts.push(`${a}.${String(b).padStart(j, '0')}${suffix}`)
        t = 0n
        continue
      }
    }
    parts.push(`${a}${suffix}`)
    t = b
  }
  return parts.join(' ')
}
