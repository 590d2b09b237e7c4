/**
 * How wide a string is on a character-cell terminal, whether the locale is
 * UTF-8, and ellipsizing to a width: the parts of systemd's utf8.c,
 * gunicode.c, locale-util.c and string-util.c that format-table relies on.
 * @module
 */

/**
 * East Asian wide code points (gunicode.c's unichar_iswide() table, which
 * systemd 252 still takes from Unicode 6.0; newer emoji count as narrow,
 * as there).
 */
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f], [0x2329, 0x232a], [0x2e80, 0x2e99], [0x2e9b, 0x2ef3], [0x2f00, 0x2fd5], [0x2ff0, 0x2ffb],
  [0x3000, 0x303e], [0x3041, 0x3096], [0x3099, 0x30ff], [0x3105, 0x312d], [0x3131, 0x318e], [0x3190, 0x31ba],
  [0x31c0, 0x31e3], [0x31f0, 0x321e], [0x3220, 0x3247], [0x3250, 0x32fe], [0x3300, 0x4dbf], [0x4e00, 0xa48c],
  [0xa490, 0xa4c6], [0xa960, 0xa97c], [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe10, 0xfe19], [0xfe30, 0xfe52],
  [0xfe54, 0xfe66], [0xfe68, 0xfe6b], [0xff01, 0xff60], [0xffe0, 0xffe6], [0x1b000, 0x1b001], [0x1f200, 0x1f202],
  [0x1f210, 0x1f23a], [0x1f240, 0x1f248], [0x1f250, 0x1f251], [0x1f300, 0x1f567], [0x20000, 0x2fffd], [0x30000, 0x3fffd],
]

export function isWide(codePoint: number): boolean {
  let lo = 0
  let hi = WIDE.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const [a, b] = WIDE[mid]!
    if (codePoint < a) hi = mid - 1
    else if (codePoint > b) lo = mid + 1
    else return true
  }
  return false
}

/** Code units that are one narrow code point each: below the first wide range, and from its end to the next (which holds "…"). */
// eslint-disable-next-line no-control-regex -- a range from U+0000, not a stray control character
const NARROW_ONLY = /^[\u0000-\u10ff\u1160-\u2328]*$/

/** utf8_console_width(): every code point one cell, wide ones two. */
export function consoleWidth(s: string): number {
  // Every such code unit is one code point of one cell: the usual case, without walking the string.
  if (NARROW_ONLY.test(s)) return s.length
  let n = 0
  for (const ch of s) {
    const cp = ch.codePointAt(0)!
    n += cp < 0x1100 ? 1 : isWide(cp) ? 2 : 1
  }
  return n
}

/**
 * is_locale_utf8(): true unless the locale names a non-UTF-8 character
 * set. No locale variable at all counts as UTF-8, an explicit "C" or
 * "POSIX" does not (systemd's own rule). We cannot ask setlocale() whether
 * a named locale is installed, so any name without "UTF-8" counts as 8-bit.
 */
export function localeIsUtf8(env: NodeJS.ProcessEnv = process.env): boolean {
  const pick = (k: string): string | undefined => (env[k] === undefined || env[k] === '' ? undefined : env[k])
  const locale = pick('LC_ALL') ?? pick('LC_CTYPE') ?? pick('LANG')
  if (locale === undefined) return true
  if (locale === 'C' || locale === 'POSIX') return false
  return /\.utf-?8(@|$)/i.test(locale)
}

let utf8Cache: boolean | undefined
function utf8(): boolean {
  utf8Cache ??= localeIsUtf8()
  return utf8Cache
}

/** For tests: forget the cached locale answer. */
export function resetLocaleCache(): void {
  utf8Cache = undefined
}

/** special_glyph(SPECIAL_GLYPH_ELLIPSIS). */
export function ellipsisGlyph(): string {
  return utf8() ? '…' : '...'
}

function isAscii(s: string): boolean {
  // eslint-disable-next-line no-control-regex -- ASCII is the range from NUL
  return /^[\x00-\x7f]*$/.test(s)
}

/** ascii_ellipsize_mem(): byte-counted, ellipsis placed at `percent`. */
function ellipsizeAscii(s: string, width: number, percent: number): string {
  if (s.length <= width) return s
  if (width === 0) return ''
  if (width === 1) return utf8() ? '…' : '.'
  if (width === 2 && !utf8()) return '..'
  const need = utf8() ? 1 : 3
  const x = Math.floor(((width - need) * percent + 50) / 100)
  const suffix = width - x - need
  return s.slice(0, x) + (utf8() ? '…' : '...') + (suffix > 0 ? s.slice(s.length - suffix) : '')
}

/**
 * ellipsize(): shortens `s` to `width` cells with "…" at `percent` of the
 * way (100: at the end). Non-ASCII strings always get "…", as in systemd.
 */
export function ellipsize(s: string, width: number, percent: number): string {
  if (width === 0) return ''
  if (isAscii(s)) return ellipsizeAscii(s, width, percent)
  // What fits is kept whole (the walk below would come to the same), without splitting it into code points.
  if (consoleWidth(s) <= width) return s
  const chars = Array.from(s)
  const w = (ch: string): number => (isWide(ch.codePointAt(0)!) ? 2 : 1)
  const x = Math.floor(((width - 1) * percent) / 100)
  let k = 0
  let i = 0
  for (; i < chars.length; i++) {
    const cw = w(chars[i]!)
    if (k + cw <= x) k += cw
    else break
  }
  let j = chars.length
  while (j > i) {
    const cw = w(chars[j - 1]!)
    if (k + cw <= width) { k += cw; j-- } else break
  }
  if (i === j) return s // it fits
  // Make room for the ellipsis.
  if (j < chars.length) j++
  else if (i > 0) i--
  return chars.slice(0, i).join('') + '…' + chars.slice(j).join('')
}
