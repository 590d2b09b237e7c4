/**
 * `machinectl show`'s property printing: systemd's
 * bus_message_print_all_properties() and bus_print_property()
 * (bus-print-properties.c). Properties come in the daemon's order, each
 * with its D-Bus signature, and print as `Name=value` lines, by type:
 * strings as they are, `t` as a timestamp when the name ends in
 * "Timestamp", `ay` as hex, `as` shell-quoted, and types it cannot print
 * (`ai`, `o`, …) as "[unprintable]" — but only when empty values are shown.
 * @module
 */

import { formatTimespan, formatTimestamp } from './timestamp.ts'

export interface TypedProperty {
  readonly name: string
  /** The D-Bus signature the value was sent with ('s', 't', 'ay', …). */
  readonly signature: string
  readonly value: unknown
}

export interface PrintFlags {
  /** -a/--all and -p: print empty values too (BUS_PRINT_PROPERTY_SHOW_EMPTY). */
  readonly showEmpty: boolean
  /** --value: the value alone (BUS_PRINT_PROPERTY_ONLY_VALUE). */
  readonly onlyValue: boolean
}

const UINT32_MAX = 0xffff_ffff
const UINT64_MAX = 0xffff_ffff_ffff_ffffn

/** bus_print_property_value(): one line, unless filtered out or empty. */
function valueLine(name: string, expected: string | undefined, flags: PrintFlags, value: string | undefined): string {
  if (expected !== undefined && expected !== value) return ''
  if (!flags.showEmpty && (value === undefined || value === '')) return ''
  return flags.onlyValue ? `${value ?? ''}\n` : `${name}=${value ?? ''}\n`
}

/** cescape_char(): C escapes for one control byte; octal for the rest, as glib's g_strescape() does. */
function cescapeByte(b: number): string {
  const named: Record<number, string> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v', 92: '\\\\', 34: '\\"', 39: "\\'" }
  return named[b] ?? `\\${b.toString(8).padStart(3, '0')}`
}

const SHELL_NEED_ESCAPE = '"\\`$'
const SHELL_NEED_QUOTES = ` \t\n\r${SHELL_NEED_ESCAPE}*?['()<>|&;!`

/** shell_maybe_quote(s, 0): as is when harmless, else double-quoted with backslash escapes. */
export function shellMaybeQuote(s: string): string {
  const chars = Array.from(s)
  const first = chars.findIndex((c) => c.charCodeAt(0) < 0x20 || c === '\x7f' || SHELL_NEED_QUOTES.includes(c))
  if (first < 0) return s
  let out = `"${chars.slice(0, first).join('')}`
  for (const c of chars.slice(first)) {
    const code = c.charCodeAt(0)
    if (code < 0x20 || code === 0x7f) out += cescapeByte(code)
    else if (c === '\\' || SHELL_NEED_ESCAPE.includes(c)) out += `\\${c}`
    else out += c
  }
  return `${out}"`
}

/** A `t` value, by the property's name (systemd's own heuristics). */
function formatUint64(name: string, u: bigint): string | undefined {
  if (name.endsWith('Timestamp') || ['NextElapseUSecRealtime', 'LastTriggerUSec', 'TimeUSec', 'RTCTimeUSec'].includes(name)) return formatTimestamp(u)
  if (name.includes('USec')) return formatTimespan(u)
  if (name === 'CoredumpFilter') return `0x${u.toString(16)}`
  if (['MemoryCurrent', 'TasksCurrent'].includes(name) && u === UINT64_MAX) return '[not set]'
  if (name.endsWith('NSec') && u === UINT64_MAX) return '[not set]'
  if ((['TasksMax', 'DefaultTasksMax'].includes(name) || name.startsWith('Limit') || name.startsWith('DefaultLimit')) && u === UINT64_MAX) return 'infinity'
  return u.toString()
}

function formatUint32(name: string, u: number): string {
  if (name.includes('UMask') || name.includes('Mode')) return u.toString(8).padStart(4, '0')
  if ((name === 'UID' || name === 'GID') && u === UINT32_MAX) return '[not set]'
  return String(u)
}

/** printf("%g") for the few doubles a property may hold. */
function formatDouble(d: number): string {
  if (!Number.isFinite(d)) return Number.isNaN(d) ? 'nan' : d > 0 ? 'inf' : '-inf'
  if (d === 0) return Object.is(d, -0) ? '-0' : '0'
  const exp = Math.floor(Math.log10(Math.abs(d)))
  if (exp < -4 || exp >= 6) {
    const [m, e] = d.toExponential(5).split('e') as [string, string]
    const mant = m.includes('.') ? m.replace(/\.?0+$/, '') : m
    const n = Number(e)
    return `${mant}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`
  }
  const fixed = d.toFixed(Math.max(0, 5 - exp))
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed
}

/**
 * bus_print_property(): the lines for one property, or undefined when it
 * has a type systemd does not print.
 */
function printProperty(p: TypedProperty, expected: string | undefined, flags: PrintFlags): string | undefined {
  const { name, signature, value } = p
  switch (signature) {
    case 's': {
      const s = String(value)
      if (!flags.showEmpty && s === '') return ''
      // One value per line: a newline inside would break that.
      return valueLine(name, expected, flags, s.includes('\n') ? '[unprintable]' : s)
    }
    case 'b': {
      if (expected !== undefined && parseBoolean(expected) !== value) return ''
      return valueLine(name, undefined, flags, value === true ? 'yes' : 'no')
    }
    case 't': return valueLine(name, expected, flags, formatUint64(name, BigInt(value as bigint)))
    case 'x': return valueLine(name, expected, flags, String(value))
    case 'u': return valueLine(name, expected, flags, formatUint32(name, Number(value)))
    case 'i': return valueLine(name, expected, flags, String(value))
    case 'd': return valueLine(name, expected, flags, formatDouble(Number(value)))
    case 'as': {
      const items = (value as readonly string[]).map(shellMaybeQuote)
      if (items.length === 0 && !flags.showEmpty) return ''
      return `${flags.onlyValue ? '' : `${name}=`}${items.join(' ')}\n`
    }
    case 'ay': {
      const bytes = value as Uint8Array
      if (bytes.length === 0 && !flags.showEmpty) return ''
      return `${flags.onlyValue ? '' : `${name}=`}${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}\n`
    }
    case 'au': {
      const words = value as readonly number[]
      if (words.length === 0 && !flags.showEmpty) return ''
      return `${flags.onlyValue ? '' : `${name}=`}${words.map((w) => w.toString(16).padStart(8, '0')).join('')}\n`
    }
    default: return undefined
  }
}

/** parse_boolean(): systemd's spellings of yes and no; undefined for anything else. */
export function parseBoolean(s: string): boolean | undefined {
  const v = s.toLowerCase()
  if (['1', 'yes', 'y', 'true', 't', 'on'].includes(v)) return true
  if (['0', 'no', 'n', 'false', 'f', 'off'].includes(v)) return false
  return undefined
}

/**
 * bus_message_print_all_properties(): every property, or those `filter`
 * names. A filter entry "Name=value" prints Name only when it has that value.
 */
export function formatProperties(properties: readonly TypedProperty[], filter: readonly string[] | undefined, flags: PrintFlags): string {
  let out = ''
  for (const p of properties) {
    let expected: string | undefined
    if (filter !== undefined && !filter.includes(p.name)) {
      expected = filter.find((f) => f.startsWith(`${p.name}=`))?.slice(p.name.length + 1)
      if (expected === undefined) continue
    }
    const text = printProperty(p, expected, flags)
    if (text !== undefined) out += text
    else if (flags.showEmpty && expected === undefined) out += `${p.name}=[unprintable]\n`
  }
  return out
}
