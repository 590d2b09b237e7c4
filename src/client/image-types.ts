/**
 * The machine image pool as the client library offers it (`client.images`),
 * the same over D-Bus and Varlink: images are named, sizes and times are
 * bigints as on the wire, UINT64_MAX (sizes) and 0 (times) meaning "not
 * known". Errors are the daemon's (NoSuchImageError, BusyError for an image
 * in use, ReadOnlyFileSystemError for vendor images and .host, …).
 * @module
 */

import type { ImageRecord } from '../protocol/image.ts'

export type { ImageRecord, ImageType } from '../protocol/image.ts'

/** What is read inside an image: /etc/hostname, /etc/machine-id, /etc/machine-info and os-release. */
export interface ImageInside {
  readonly hostname: string
  /** 32 hex digits, or "" when the image has none. */
  readonly machineId: string
  readonly machineInfo: Readonly<Record<string, string>>
  readonly osRelease: Readonly<Record<string, string>>
}

/** The pool: where new images go, and its quota where it has one (UINT64_MAX each otherwise). */
export interface PoolInfo {
  readonly path: string
  readonly usage: bigint
  readonly limit: bigint
}

export interface CleanedImage {
  readonly name: string
  /** The exclusive disk space freed; UINT64_MAX when not known. */
  readonly usageExclusive: bigint
}

export interface ImageClient {
  /** Every image, .host and hidden ones included (ListImages). */
  list(): Promise<ImageRecord[]>
  /** One image (NoSuchImageError when there is none). */
  get(name: string): Promise<ImageRecord>
  /** What is inside it; a raw image is attached through a loop device to be read. */
  inside(name: string): Promise<ImageInside>
  remove(name: string): Promise<void>
  rename(name: string, newName: string): Promise<void>
  clone(name: string, newName: string, options?: { readOnly?: boolean }): Promise<void>
  markReadOnly(name: string, readOnly: boolean): Promise<void>
  /** A quota limit in bytes (UINT64_MAX: none); btrfs subvolumes only. */
  setLimit(name: string, limit: bigint): Promise<void>
  setPoolLimit(limit: bigint): Promise<void>
  /** Removes hidden images ("hidden") or all but vendor images and .host ("all"), keeping those in use. */
  clean(mode: 'hidden' | 'all'): Promise<CleanedImage[]>
  /** The pool's path and quota (D-Bus only: Varlink has no such call). */
  pool(): Promise<PoolInfo>
}
