/**
 * Sizes as systemd writes and reads them (format-util.c's format_bytes()
 * with FORMAT_BYTES_USE_IEC | BELOW_POINT | TRAILING_B, and parse-util.c's
 * parse_size() with base 1024): "12.0K", "1.1M" (the tenth truncated, not
 * rounded), "512B"; "1G", "1.5M", "10 G", "1G 512M" back.
 * @module
 */

const UINT64_MAX = 0xffff_ffff_ffff_ffffn
const SUFFIXES = ['E', 'P', 'T', 'G', 'M', 'K'] as const

/** The factor of each suffix, largest first (1024⁶ … 1024). */
const FACTORS = SUFFIXES.map((_, i) => 1024n ** BigInt(SUFFIXES.length - i))

/** format_bytes(); undefined for UINT64_MAX ("not known"). */
export function formatBytes(value: bigint | number): string | undefined {
  const t = BigInt(value)
  if (t === UINT64_MAX) return undefined
  for (let i = 0; i < FACTORS.length; i++) {
    const factor = FACTORS[i]!
    if (t < factor) continue
    // The tenth from the next unit down, as systemd computes it.
    const tenth = i === FACTORS.length - 1 ? (t * 10n / factor) % 10n : (t / FACTORS[i + 1]! * 10n / 1024n) % 10n
    return `${t / factor}.${tenth}${SUFFIXES[i]}`
  }
  return `${t}B`
}

const PARSE_TABLE: readonly (readonly [string, bigint])[] = [...SUFFIXES.map((s, i) => [s, FACTORS[i]!] as const), ['B', 1n], ['', 1n]]

/**
 * parse_size(t, 1024): one or more numbers (with an optional fraction),
 * each followed by a suffix smaller than the one before; undefined when
 * the text is none (negative, bad suffix, too large).
 */
export function parseSize(text: string): bigint | undefined {
  let p = text
  let total = 0n
  let start = 0
  do {
    p = p.replace(/^[ \t\n\r]+/, '')
    const m = /^(\d+)(?:\.(\d*))?/.exec(p)
    if (m === null) return undefined
    const whole = BigInt(m[1]!)
    const fraction = m[2] ?? ''
    let rest = p.slice(m[0].length).replace(/^[ \t\n\r]+/, '')
    let i = start
    while (i < PARSE_TABLE.length && !rest.startsWith(PARSE_TABLE[i]![0])) i++
    if (i >= PARSE_TABLE.length) return undefined
    const [suffix, factor] = PARSE_TABLE[i]!
    // The fraction counts as a double in systemd: (frac × factor) truncated.
    const part = fraction === '' ? 0n : BigInt(Math.floor(Number(`0.${fraction}`) * Number(factor)))
    const value = whole * factor + part
    total += value
    if (total > UINT64_MAX) return undefined
    rest = rest.slice(suffix.length)
    p = rest
    start = i + 1
  } while (p !== '')
  return total
}
