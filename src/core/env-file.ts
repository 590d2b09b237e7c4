/**
 * The KEY=VALUE files systemd reads and writes (env-file.c): os-release and
 * machined's own state files. Reading follows parse_env_file(): comments,
 * single and double quotes, backslash escapes; writing follows cescape(),
 * which machine_save() uses for free-form values.
 * @module
 */

import { utf8Decode, utf8Encode } from '../protocol/utf8.ts'

const WHITESPACE = ' \t\n\r'
/** Inside double quotes a backslash escapes only these (SHELL_NEED_ESCAPE). */
const DOUBLE_QUOTE_ESCAPABLE = '"\\`$'

type State = 'preKey' | 'key' | 'preValue' | 'value' | 'valueEscape' | 'single' | 'double' | 'doubleEscape' | 'comment' | 'commentEscape'

/**
 * Parses an environment-like file into ordered pairs with the state machine
 * of parse_env_file(): quotes open only where a value (or the part after a
 * closing quote) starts, blanks after a closing quote are dropped, trailing
 * blanks of an unquoted value are dropped, a backslash-newline continues.
 * A later key overrides an earlier one.
 */
export function parseEnvFile(text: string): Map<string, string> {
  // Without quotes and backslashes the state machine comes down to one line per assignment.
  if (!/["'\\]/.test(text)) return parsePlainEnvFile(text)
  const out = new Map<string, string>()
  let state: State = 'preKey'
  let key = ''
  let value = ''
  /** Length of `value` without the blanks an unquoted value ends in. */
  let trimmed = 0
  const finish = (): void => {
    const k = key.trim()
    if (k !== '') out.set(k, value.slice(0, trimmed))
    key = ''
    value = ''
    trimmed = 0
  }
  const append = (c: string, quoted: boolean): void => {
    value += c
    if (quoted || !WHITESPACE.includes(c)) trimmed = value.length
  }
  for (const c of text) {
    switch (state) {
      case 'preKey':
        if (c === '#' || c === ';') state = 'comment'
        else if (!WHITESPACE.includes(c)) { state = 'key'; key = c }
        break
      case 'key':
        if (c === '\n') { state = 'preKey'; key = '' }
        else if (c === '=') state = 'preValue'
        else key += c
        break
      case 'preValue':
        if (c === '\n') { finish(); state = 'preKey' }
        else if (c === "'") state = 'single'
        else if (c === '"') state = 'double'
        else if (c === '\\') state = 'valueEscape'
        else if (!WHITESPACE.includes(c)) { append(c, false); state = 'value' }
        break
      case 'value':
        if (c === '\n') { finish(); state = 'preKey' }
        else if (c === '\\') state = 'valueEscape'
        else append(c, false)
        break
      case 'valueEscape':
        if (c !== '\n') append(c, true)
        state = 'value'
        break
      case 'single':
        if (c === "'") state = 'preValue'
        else append(c, true)
        break
      case 'double':
        if (c === '"') state = 'preValue'
        else if (c === '\\') state = 'doubleEscape'
        else append(c, true)
        break
      case 'doubleEscape':
        if (DOUBLE_QUOTE_ESCAPABLE.includes(c)) append(c, true)
        else if (c !== '\n') { append('\\', true); append(c, true) }
        state = 'double'
        break
      case 'comment':
        if (c === '\\') state = 'commentEscape'
        else if (c === '\n') state = 'preKey'
        break
      case 'commentEscape':
        state = 'comment'
        break
    }
  }
  if (state === 'preValue' || state === 'value' || state === 'valueEscape' || state === 'single' || state === 'double' || state === 'doubleEscape') finish()
  return out
}

/**
 * parseEnvFile() for a text without quotes or backslashes (machined's own
 * state files, nearly always), line by line instead of character by
 * character: a restart reads thousands of them.
 */
function parsePlainEnvFile(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^[ \t\r]+/, '')
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const eq = line.indexOf('=')
    if (eq < 0) continue
    const key = line.slice(0, eq).trim()
    if (key !== '') out.set(key, line.slice(eq + 1).replace(/^[ \t\r]+/, '').replace(/[ \t\r]+$/, ''))
  }
  return out
}

/** Whether every character is printable ASCII other than a quote or a backslash: cescape() leaves `s` as it is. */
function printableAsIs(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c >= 0x7f || c === 0x5c || c === 0x22 || c === 0x27) return false
  }
  return true
}

/** cescape(): C-style escapes for control and non-ASCII bytes, quotes and backslash. */
export function cescape(s: string): string {
  // Most values (a unit, a service name, a path) have nothing to escape: they are written as they are,
  // without the byte array and the string built a character at a time (every registration's state file).
  if (printableAsIs(s)) return s
  const bytes = utf8Encode(s)
  let out = ''
  for (const c of bytes) {
    switch (c) {
      case 0x07: out += '\\a'; break
      case 0x08: out += '\\b'; break
      case 0x0c: out += '\\f'; break
      case 0x0a: out += '\\n'; break
      case 0x0d: out += '\\r'; break
      case 0x09: out += '\\t'; break
      case 0x0b: out += '\\v'; break
      case 0x5c: out += '\\\\'; break
      case 0x22: out += '\\"'; break
      case 0x27: out += "\\'"; break
      default:
        if (c < 0x20 || c >= 0x7f) out += `\\${(c >> 6).toString(8)}${((c >> 3) & 7).toString(8)}${(c & 7).toString(8)}`
        else out += String.fromCharCode(c)
    }
  }
  return out
}

/** cunescape(): the inverse of cescape, for values parse_env_file left escaped. */
export function cunescape(s: string): string {
  const bytes: number[] = []
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!
    if (ch !== '\\' || i + 1 >= s.length) { bytes.push(...utf8Encode(ch)); continue }
    const next = s[++i]!
    const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34, "'": 39 }
    if (next in simple) { bytes.push(simple[next]!); continue }
    if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16))
      i += 2
      continue
    }
    if (/^[0-7]{3}$/.test(s.slice(i, i + 3))) {
      bytes.push(parseInt(s.slice(i, i + 3), 8) & 0xff)
      i += 2
      continue
    }
    bytes.push(92, ...utf8Encode(next))
  }
  return utf8Decode(Uint8Array.from(bytes)) ?? s
}
