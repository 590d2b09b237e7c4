/**
 * Field value checks of systemd's JSON dispatchers (sd-json, json-util.c),
 * for parameters whose types the IDL check has already passed. Each
 * returns undefined for a value the dispatcher would refuse; the caller
 * turns that into InvalidParameter for the field.
 * @module
 */

import { parseCUnsigned64 } from '../../protocol/signals.ts'

export const UINT32_MAX = 0xffff_ffffn
const UINT64_MAX = 0xffff_ffff_ffff_ffffn

/**
 * sd_json_dispatch_uint64() and the narrower ones built on it
 * (sd_json_dispatch_uint32(), …): a JSON integer of at least 0, or a
 * string as safe_atou64() reads it ("42", " 42", "+42", "0x2a", "052",
 * "0b101010": values past 2^53 often have to come as strings), up to
 * `max`. JSON has no unsigned type: a negative integer is refused, as
 * sd_json_variant_is_unsigned() refuses it. Beyond 2^53 we cannot hold
 * the value exactly, and no field we read can meaningfully be that large.
 */
export function unsignedValue(v: unknown, max = UINT64_MAX): number | undefined {
  let n: bigint | undefined
  if (typeof v === 'number') n = Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : undefined
  else if (typeof v === 'string') n = parseCUnsigned64(v)
  return n !== undefined && n <= max && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined
}

/** A field whose dispatch table names SD_JSON_VARIANT_UNSIGNED: a JSON integer of at least 0 only, never a string. */
export function jsonUnsignedValue(v: unknown, max: bigint): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && BigInt(v) <= max ? v : undefined
}

/** PID_T_MAX: pid_t is a signed 32-bit integer; pid_is_valid() wants it positive. */
export const PID_T_MAX = 0x7fffffff

/** A PID read as json_dispatch_pidref() reads its 64-bit field: 1…PID_T_MAX. */
export function pidValue(v: number | undefined): number | undefined {
  return v !== undefined && v > 0 && v <= PID_T_MAX ? v : undefined
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
  // eslint-disable-next-line no-control-regex -- the control characters are what it refuses
  return typeof v === 'string' && !/[\x00-\x1f\x7f"'\\]/.test(v) ? v : undefined
}

/**
 * MapFrom's and MapTo's uid and gid: their dispatch tables name
 * SD_JSON_VARIANT_UNSIGNED, so only a JSON integer gets to
 * sd_json_dispatch_uid_gid() (a string is refused first), and that wants
 * uid_is_valid(): 0…2^32-2, but not the 16-bit -1 either.
 */
export function uidValue(v: unknown): number | undefined {
  const n = jsonUnsignedValue(v, UINT32_MAX)
  return n !== undefined && n !== 0xffffffff && n !== 0xffff ? n : undefined
}
