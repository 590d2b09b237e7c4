/**
 * The grammars of the D-Bus specification for object paths and for
 * interface, member, error and bus names ("Valid Names"). Both directions
 * check them: a bus drops a client that sends a bad name, and we refuse a
 * peer's message that carries one. Hand-written loops rather than regular
 * expressions: every message carries several names.
 * @module
 */

const MAX_NAME = 255

const SLASH = 0x2f
const DOT = 0x2e
const DASH = 0x2d
const UNDERSCORE = 0x5f

function isLetter(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39
}

/** "/" or "/" followed by non-empty [A-Za-z0-9_] elements separated by single slashes. */
export function isObjectPath(s: string): boolean {
  const n = s.length
  if (n === 0 || s.charCodeAt(0) !== SLASH) return false
  let afterSlash = true
  for (let i = 1; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c === SLASH) {
      if (afterSlash) return false
      afterSlash = true
    } else if (isLetter(c) || isDigit(c) || c === UNDERSCORE) {
      afterSlash = false
    } else {
      return false
    }
  }
  return n === 1 || !afterSlash
}

/**
 * Dot-separated elements of [A-Za-z0-9_] plus `extra` (a dash, for bus
 * names), each non-empty; `digitFirst` allows an element to start with a
 * digit (unique names). Returns the number of elements, or 0 when invalid.
 */
function elements(s: string, from: number, extra: number, digitFirst: boolean): number {
  const n = s.length
  let count = 0
  let atStart = true
  for (let i = from; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c === DOT) {
      if (atStart) return 0
      atStart = true
      continue
    }
    if (isLetter(c) || c === UNDERSCORE || c === extra || (isDigit(c) && (digitFirst || !atStart))) {
      if (atStart) count++
      atStart = false
      continue
    }
    return 0
  }
  return atStart ? 0 : count
}

/** Two or more dot-separated elements, none starting with a digit; at most 255 bytes. */
export function isInterfaceName(s: string): boolean {
  return s.length <= MAX_NAME && elements(s, 0, -1, false) >= 2
}

/** Error names follow the interface-name grammar. @alias */
export const isErrorName = isInterfaceName

export function isMemberName(s: string): boolean {
  return s.length > 0 && s.length <= MAX_NAME && !s.includes('.') && elements(s, 0, -1, false) === 1
}

/** A unique (":1.42") or well-known ("org.freedesktop.machine1") bus name. */
export function isBusName(s: string): boolean {
  if (s.length > MAX_NAME) return false
  if (s.charCodeAt(0) === 0x3a) return elements(s, 1, DASH, true) >= 2
  return elements(s, 0, DASH, false) >= 2
}
