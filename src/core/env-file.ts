/**
 * The KEY=VALUE files systemd reads and writes (env-file.c): os-release and
 * machined's own state files. Reading follows parse_env_file(): comments,
 * single and double quotes, backslash escapes; writing follows cescape(),
 * which machine_save() uses for free-form values.
 * @module
 */

import { utf8Decode, utf8Encode } from '../protocol/utf8.ts'

/** Characters that end an unquoted value in the reader. */
const WHITESPACE = ' \t\n\r'

/**
 * Parses an environment-like file into ordered pairs. Lines that are not
 * assignments are skipped; a later key overrides an earlier one.
 */
export function parseEnvFile(text: string): Map<string, string> {
  const out = new Map<string, string>()
  let i = 0
  const n = text.length
  while (i < n) {
    // Skip leading whitespace and blank lines.
    while (i < n && WHITESPACE.includes(text[i]!)) i++
    if (i >= n) break
    if (text[i] === '#' || text[i] === ';') {
      while (i < n && text[i] !== '\n') i++
      continue
    }
    let key = ''
    while (i < n && text[i] !== '=' && text[i] !== '\n') key += text[i++]
    key = key.trim()
    if (i >= n || text[i] === '\n' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      while (i < n && text[i] !== '\n') i++
      continue
    }
    i++ // '='
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++
    let value = ''
    let pendingSpace = ''
    while (i < n && text[i] !== '\n') {
      const c = text[i]!
      if (c === "'") {
        value += pendingSpace
        pendingSpace = ''
        i++
        while (i < n && text[i] !== "'") value += text[i++]
        i++
      } else if (c === '"') {
        value += pendingSpace
        pendingSpace = ''
        i++
        while (i < n && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < n) {
            const next = text[i + 1]!
            if (next === '\n') { i += 2; continue }
            if ('"\\`$'.includes(next)) { value += next; i += 2; continue }
          }
          value += text[i++]
        }
        i++
      } else if (c === '\\') {
        value += pendingSpace
        pendingSpace = ''
        const next = text[i + 1]
        if (next === undefined) { i++; break }
        if (next !== '\n') value += next
        i += 2
      } else if (c === ' ' || c === '\t' || c === '\r') {
        // Whitespace inside an unquoted value is kept, trailing whitespace is not.
        pendingSpace += c
        i++
      } else {
        value += pendingSpace + c
        pendingSpace = ''
        i++
      }
    }
    out.set(key, value)
  }
  return out
}

/** cescape(): C-style escapes for control and non-ASCII bytes, quotes and backslash. */
export function cescape(s: string): string {
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
