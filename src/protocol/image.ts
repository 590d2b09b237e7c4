/**
 * Machine images as systemd describes them (discover-image.h, os-util.c):
 * the types, the name rule, the record every transport reports and the
 * metadata read from inside an image. Values systemd does not know are
 * UINT64_MAX (sizes) or 0 (times), as on the wire.
 * @module
 */

import { busLabelEscape, MACHINE1_PATH } from './bus-path.ts'
import { utf8Encode } from './utf8.ts'

export const IMAGE_TYPES = ['directory', 'subvolume', 'raw', 'block'] as const
export type ImageType = (typeof IMAGE_TYPES)[number]

export function imageTypeFromString(s: string): ImageType | undefined {
  return (IMAGE_TYPES as readonly string[]).includes(s) ? (s as ImageType) : undefined
}

/** The image of the host's own root directory, always listed. */
export const HOST_IMAGE_NAME = '.host'

/** "Not known" for a size, and "no limit" for a limit. */
export const UINT64_MAX = 0xffff_ffff_ffff_ffffn

const NAME_MAX = 255

/**
 * image_name_is_valid(): a valid file name (not empty, not "." or "..",
 * no "/", at most NAME_MAX bytes), no control characters, valid UTF-8, and
 * not ".#…" (the prefix of temporary files being created atomically).
 * Hidden names (a leading ".") are fine.
 */
export function imageNameIsValid(s: string): boolean {
  if (s === '' || s === '.' || s === '..' || s.includes('/')) return false
  // A UTF-16 code unit is at most 3 bytes of UTF-8: short names need no counting.
  if (s.length * 3 > NAME_MAX && utf8Encode(s).length > NAME_MAX) return false
  // Control characters (string_has_cc()), and lone surrogates, which are no UTF-8.
  // eslint-disable-next-line no-control-regex -- the control characters are what it refuses
  if (/[\x00-\x1f\x7f]/.test(s) || /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s)) return false
  return !s.startsWith('.#')
}

/** IMAGE_IS_HIDDEN(). */
export function imageIsHidden(name: string): boolean {
  return name.startsWith('.')
}

/** FILE_SIZE_VALID_OR_INFINITY(): a limit below 2⁶³, or UINT64_MAX for none. */
export function limitIsValid(limit: bigint): boolean {
  return limit === UINT64_MAX || (limit >= 0n && limit < 1n << 63n)
}

/** What is known of an image without looking inside it (the Image objects' properties). */
export interface ImageRecord {
  readonly name: string
  /** Where it is, symlinks not resolved ("/var/lib/machines/foo.raw"). */
  readonly path: string
  readonly type: ImageType
  readonly readOnly: boolean
  /** CLOCK_REALTIME µs; 0 when unknown. */
  readonly crtime: bigint
  readonly mtime: bigint
  readonly usage: bigint
  readonly usageExclusive: bigint
  readonly limit: bigint
  readonly limitExclusive: bigint
}

/** What image_read_metadata() finds inside an image. */
export interface ImageMetadata {
  /** /etc/hostname; "" when there is none. */
  readonly hostname: string
  /** /etc/machine-id as 32 lower-case hex digits; "" when there is none (or it is invalid). */
  readonly machineId: string
  /** /etc/machine-info, in file order. */
  readonly machineInfo: readonly (readonly [string, string])[]
  /** os-release, in file order. */
  readonly osRelease: readonly (readonly [string, string])[]
}

export const IMAGE_PATH_PREFIX = `${MACHINE1_PATH}/image`

/** image_bus_path(). */
export function imageObjectPath(name: string): string {
  return `${IMAGE_PATH_PREFIX}/${busLabelEscape(name)}`
}
