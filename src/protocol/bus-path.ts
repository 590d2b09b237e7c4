/**
 * Object-path labels as sd_bus_path_encode() writes them: every byte that
 * is not [A-Za-z0-9] (and a leading digit) becomes _XX in lower-case hex;
 * the empty string becomes "_".
 * @module
 */

import { utf8Decode, utf8Encode } from './utf8.ts'

export const MACHINE1_PATH = '/org/freedesktop/machine1'
export const MACHINE_PATH_PREFIX = '/org/freedesktop/machine1/machine'

/** Whether every character is an ASCII letter or digit, the first not a digit: the label is `s` itself. */
function needsNoEscape(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
    if (!alpha && !(c >= 0x30 && c <= 0x39 && i > 0)) return false
  }
  return true
}

export function busLabelEscape(s: string): string {
  if (s.length === 0) return '_'
  // Most machine names escape to themselves: no byte array and no string built a character at a time
  // (which the marshaller then reads slowly), twice for every registration's signals and reply.
  if (needsNoEscape(s)) return s
  const bytes = utf8Encode(s)
  let out = ''
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!
    const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
    const digit = c >= 0x30 && c <= 0x39
    if (alpha || (digit && i > 0)) out += String.fromCharCode(c)
    else out += `_${c.toString(16).padStart(2, '0')}`
  }
  return out
}

/** The inverse of busLabelEscape; undefined for a label it could not have written. */
export function busLabelUnescape(label: string): string | undefined {
  if (label === '_') return ''
  const bytes: number[] = []
  for (let i = 0; i < label.length; i++) {
    const ch = label[i]!
    if (ch === '_') {
      const hex = label.slice(i + 1, i + 3)
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined
      bytes.push(parseInt(hex, 16))
      i += 2
    } else if (/[A-Za-z0-9]/.test(ch)) {
      bytes.push(ch.charCodeAt(0))
    } else {
      return undefined
    }
  }
  return utf8Decode(Uint8Array.from(bytes))
}

export function machineObjectPath(name: string): string {
  return `${MACHINE_PATH_PREFIX}/${busLabelEscape(name)}`
}
