/**
 * UTF-8 without TextEncoder/TextDecoder, which are not part of the
 * language: protocol/ and core/ stay free of runtime globals.
 * @module
 */

export function utf8Encode(s: string): Uint8Array {
  const out: number[] = []
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    if (c < 0x80) out.push(c)
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f))
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f))
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f))
  }
  return Uint8Array.from(out)
}

/** Strict decoding: undefined for anything that is not well-formed UTF-8. */
export function utf8Decode(bytes: Uint8Array): string | undefined {
  let out = ''
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!
    let need: number
    let c: number
    let min: number
    if (b < 0x80) { out += String.fromCharCode(b); i++; continue }
    else if ((b & 0xe0) === 0xc0) { need = 1; c = b & 0x1f; min = 0x80 }
    else if ((b & 0xf0) === 0xe0) { need = 2; c = b & 0x0f; min = 0x800 }
    else if ((b & 0xf8) === 0xf0) { need = 3; c = b & 0x07; min = 0x10000 }
    else return undefined
    for (let k = 1; k <= need; k++) {
      const n = bytes[i + k]
      if (n === undefined || (n & 0xc0) !== 0x80) return undefined
      c = (c << 6) | (n & 0x3f)
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return undefined
    out += String.fromCodePoint(c)
    i += need + 1
  }
  return out
}
