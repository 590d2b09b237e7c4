/**
 * Signal names as systemd's signal-util.c spells and parses them
 * (signal_to_string(), signal_from_string()): "TERM", "SIGTERM", "15",
 * "RTMIN+4", "SIGRTMAX-2". Linux/glibc numbers, with glibc's SIGRTMIN of
 * 34 (the kernel's 32 and 33 belong to the C library). mctl's options and
 * the Varlink dispatchers (a signal may come as a name) parse them alike,
 * with the numbers as systemd's safe_atoi()/safe_atou64() read them.
 * @module
 */

export const SIGRTMIN = 34
export const SIGRTMAX = 64
/**
 * What `machinectl poweroff` and `reboot` send a machine's leader:
 * SIGRTMIN+4, which systemd as a container's PID 1 takes as "power off",
 * and SIGINT, which sysvinit and systemd alike take as "reboot".
 */
export const SIGNAL_POWEROFF = SIGRTMIN + 4
export const SIGNAL_REBOOT = 2
/** _NSIG: valid signals are 1…64. */
const NSIG = 65

const NAMES: Readonly<Record<number, string>> = {
  1: 'HUP', 2: 'INT', 3: 'QUIT', 4: 'ILL', 5: 'TRAP', 6: 'ABRT', 7: 'BUS', 8: 'FPE', 9: 'KILL', 10: 'USR1', 11: 'SEGV',
  12: 'USR2', 13: 'PIPE', 14: 'ALRM', 15: 'TERM', 16: 'STKFLT', 17: 'CHLD', 18: 'CONT', 19: 'STOP', 20: 'TSTP', 21: 'TTIN',
  22: 'TTOU', 23: 'URG', 24: 'XCPU', 25: 'XFSZ', 26: 'VTALRM', 27: 'PROF', 28: 'WINCH', 29: 'IO', 30: 'PWR', 31: 'SYS',
}
const BY_NAME: ReadonlyMap<string, number> = new Map(Object.entries(NAMES).map(([n, s]) => [s, Number(n)]))

/** signal_to_string(): "TERM", "RTMIN+4", or the number. */
export function signalToString(signo: number): string {
  const name = NAMES[signo]
  if (name !== undefined) return name
  if (signo >= SIGRTMIN && signo <= SIGRTMAX) return `RTMIN+${signo - SIGRTMIN}`
  return String(signo)
}

/**
 * strtol()/strtoull() with base 0 after systemd's "0b"/"0o" prefixes
 * (mangle_base()), as safe_atoi() and safe_atou64() call them: leading
 * white space, a sign, 0x for hex or a leading 0 for octal, and nothing
 * after the number. The value with its sign, or undefined for anything else.
 */
function parseCInteger(s: string): bigint | undefined {
  let t = s.replace(/^[ \t\n\r]+/, '')
  let base = 0
  const prefixed = /^0([bBoO])/.exec(t)
  if (prefixed !== null) {
    base = prefixed[1]!.toLowerCase() === 'b' ? 2 : 8
    t = t.slice(2)
  }
  // strtol itself: white space, a sign, and (for base 0) 0x or a leading 0 for octal.
  t = t.replace(/^[ \t\n\r]+/, '')
  let negative = false
  if (t[0] === '+' || t[0] === '-') { negative = t[0] === '-'; t = t.slice(1) }
  if (base === 0) {
    if (/^0[xX][0-9a-fA-F]/.test(t)) { base = 16; t = t.slice(2) } else if (/^0/.test(t) && t.length > 1) { base = 8; t = t.slice(1) } else base = 10
  }
  const digits = { 2: /^[01]+$/, 8: /^[0-7]+$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ }[base as 2 | 8 | 10 | 16]
  if (t === '' || !digits.test(t)) return undefined
  const prefix = { 2: '0b', 8: '0o', 10: '', 16: '0x' }[base as 2 | 8 | 10 | 16]
  const v = BigInt(`${prefix}${t}`)
  return negative ? -v : v
}

/** safe_atoi(): parseCInteger() within int; undefined for anything else. */
export function parseCInt(s: string): number | undefined {
  const v = parseCInteger(s)
  return v !== undefined && v >= -0x8000_0000n && v <= 0x7fff_ffffn ? Number(v) : undefined
}

/**
 * safe_atou64(): parseCInteger() within uint64, where a minus sign is
 * refused unless the value is 0 (strtoull() would wrap it around).
 */
export function parseCUnsigned64(s: string): bigint | undefined {
  const v = parseCInteger(s)
  return v !== undefined && v >= 0n && v <= 0xffff_ffff_ffff_ffffn ? v : undefined
}

/** signal_from_string(): a number, a name with or without "SIG", RTMIN+n or RTMAX-n; undefined when invalid. */
export function signalFromString(s: string): number | undefined {
  const n = parseCInt(s)
  if (n !== undefined) return n > 0 && n < NSIG ? n : undefined
  // A string that merely starts like a number (strtol rejected it) is no name either.
  const name = s.startsWith('SIG') ? s.slice(3) : s
  const known = BY_NAME.get(name)
  if (known !== undefined) return known
  for (const [prefix, base, sign] of [['RTMIN', SIGRTMIN, 1], ['RTMAX', SIGRTMAX, -1]] as const) {
    if (!name.startsWith(prefix)) continue
    const rest = name.slice(prefix.length)
    if (rest === '') return base
    if (rest[0] !== (sign > 0 ? '+' : '-')) return undefined
    const k = parseCInt(rest)
    if (k === undefined) return undefined
    if (sign > 0 ? k < 0 || k > SIGRTMAX - SIGRTMIN : k > 0 || k < SIGRTMIN - SIGRTMAX) return undefined
    return base + k
  }
  return undefined
}

/** `--signal=help`: DUMP_STRING_TABLE(signal, int, _NSIG), one name per line from 0. */
export function signalNames(): string {
  let out = ''
  for (let i = 0; i < NSIG; i++) out += `${signalToString(i)}\n`
  return out
}

/** The number and SIG-name pairs of `--signal=list` (TABLE_SIGNAL prints "SIG" + signal_to_string()). */
export function signalList(): [string, string][] {
  const rows: [string, string][] = []
  for (let i = 1; i < NSIG; i++) rows.push([String(i), `SIG${signalToString(i)}`])
  return rows
}
