/**
 * Field value checks of systemd's JSON dispatchers (sd-json, json-util.c),
 * for parameters whose types the IDL check has already passed. Each
 * returns undefined for a value the dispatcher would refuse; the caller
 * turns that into InvalidParameter for the field.
 * @module
 */

/** sd_json_dispatch_int*() and friends: a JSON integer, or a decimal string (for values past 2^53). */
export function integerValue(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined
  if (typeof v === 'string' && /^-?[0-9]+$/.test(v)) {
    const n = Number(v)
    return Number.isSafeInteger(n) ? n : undefined
  }
  return undefined
}

/** PID_T_MAX: pid_t is a signed 32-bit integer; pid_is_valid() wants it positive. */
export const PID_T_MAX = 0x7fffffff

export function pidValue(v: unknown): number | undefined {
  const n = integerValue(v)
  return n !== undefined && n > 0 && n <= PID_T_MAX ? n : undefined
}

/** sd_id128_from_string(): 32 hex digits, or the same as a dashed UUID. */
export function id128Value(v: unknown): Uint8Array | undefined {
  if (typeof v !== 'string') return undefined
  const hex = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(v) ? v.replace(/-/g, '') : v
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return undefined
  return Uint8Array.from(hex.match(/../g)!, (b) => parseInt(b, 16))
}

export function id128ToString(id: Uint8Array): string {
  return Array.from(id, (b) => b.toString(16).padStart(2, '0')).join('')
}

const PATH_MAX = 4096
const NAME_MAX = 255

/** json_dispatch_path(): path_is_valid() (non-empty, no NUL, within PATH_MAX and NAME_MAX) and absolute. */
export function absolutePathValue(v: unknown): string | undefined {
  if (typeof v !== 'string' || !v.startsWith('/') || v.includes('\0')) return undefined
  if (Buffer.byteLength(v) >= PATH_MAX) return undefined
  return v.split('/').every((c) => Buffer.byteLength(c) <= NAME_MAX) ? v : undefined
}

/** string_is_safe(), what SD_JSON_STRICT adds to sd_json_dispatch_string(): no control characters, quotes or backslashes. */
export function safeStringValue(v: unknown): string | undefined {
  return typeof v === 'string' && !/[\x00-\x1f\x7f"'\\]/.test(v) ? v : undefined
}

/** uid_is_valid(): 0…2^32-2, but not the 16-bit -1 either. */
export function uidValue(v: unknown): number | undefined {
  const n = integerValue(v)
  return n !== undefined && n >= 0 && n < 0xffffffff && n !== 0xffff ? n : undefined
}
