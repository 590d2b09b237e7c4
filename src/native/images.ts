/**
 * The image pool's part of the native module (native/addon/images.c): OFD locks,
 * file attributes (chattr), and the btrfs subvolume and block device
 * ioctls Node does not offer. Loaded on first use; like addon.ts it
 * imports nothing outside src/native, so every layer may use it (the
 * daemon's backends, and launchers through image-lock.ts).
 * @module
 */

import { loadAddon } from './addon.ts'

/** FS_IMMUTABLE_FL of linux/fs.h: what makes a directory image read-only. */
export const FS_IMMUTABLE_FL = 0x10
/** FS_NOCOW_FL: systemd sets it on raw images it copies (no copy-on-write fragmentation on btrfs). */
export const FS_NOCOW_FL = 0x800000

export interface BtrfsSubvolumeInfo {
  readonly id: bigint
  readonly readOnly: boolean
  /** When the subvolume was created, CLOCK_REALTIME µs. */
  readonly otimeUsec: bigint
}

interface ImagesAddon {
  ofdLock(fd: number, exclusive: boolean): boolean
  fileAttributes(fd: number): number
  setFileAttributes(fd: number, value: number, mask: number): number
  btrfsSubvolumeInfo(fd: number): BtrfsSubvolumeInfo
  btrfsSetReadOnly(fd: number, readOnly: boolean): void
  blockDeviceSetReadOnly(fd: number, readOnly: boolean): void
  scanSearchPath(dirs: readonly string[], names: readonly string[] | null, callback: (err: Error | undefined, result: RawScan) => void): void
}

function load(): ImagesAddon {
  return loadAddon<ImagesAddon>()
}

/** fcntl(F_OFD_SETLK): true once the lock is ours, false while another open file holds a conflicting one. */
export function ofdLock(fd: number, exclusive: boolean): boolean {
  return load().ofdLock(fd, exclusive)
}

/** FS_IOC_GETFLAGS; throws ENOTTY (and the like) where the file system has no attributes. */
export function fileAttributes(fd: number): number {
  return load().fileAttributes(fd)
}

/** chattr_fd(): sets the bits of `mask` to those of `value`; returns the attributes before. */
export function setFileAttributes(fd: number, value: number, mask: number): number {
  return load().setFileAttributes(fd, value, mask)
}

/** BTRFS_IOC_GET_SUBVOL_INFO on a subvolume's top directory. */
export function btrfsSubvolumeInfo(fd: number): BtrfsSubvolumeInfo {
  return load().btrfsSubvolumeInfo(fd)
}

/** The subvolume's read-only flag (BTRFS_SUBVOL_RDONLY). */
export function btrfsSetReadOnly(fd: number, readOnly: boolean): void {
  load().btrfsSetReadOnly(fd, readOnly)
}

/** BLKROSET. */
export function blockDeviceSetReadOnly(fd: number, readOnly: boolean): void {
  load().blockDeviceSetReadOnly(fd, readOnly)
}

/** What scanSearchPath() found: one entry per image candidate, in search path order, then directory order. */
export interface ScannedEntry {
  /** The search directory it is in, symlinks resolved. */
  readonly dir: string
  readonly file: string
  readonly type: 'directory' | 'subvolume' | 'raw' | 'block' | 'other'
  /** What the entry says itself: FS_IMMUTABLE_FL, the btrfs read-only flag, no write bits, BLKROGET. */
  readonly readOnly: boolean
  /** On a read-only mount (faccessat(W_OK) fails with EROFS). */
  readonly erofs: boolean
  /** Birth time (a subvolume's creation time), µs; 0 when not known. */
  readonly crtime: bigint
  readonly mtime: bigint
  readonly size: bigint
  /** Blocks in use, in bytes. */
  readonly used: bigint
}

const SCAN_TYPES = ['directory', 'subvolume', 'raw', 'block', 'other'] as const
const FIELDS = 8

interface RawScan {
  readonly names: string
  readonly dirs: readonly (string | null)[]
  readonly facts: Float64Array
}

/**
 * image_discover()'s look at every directory of `dirs` (missing ones
 * skipped), or image_find()'s at the entries `names` only (which then also
 * reports entries that exist but are no image, as "other"), in one piece
 * of work off the JavaScript thread.
 */
export function scanSearchPath(dirs: readonly string[], names: readonly string[] | null): Promise<ScannedEntry[]> {
  return new Promise((resolve, reject) => {
    load().scanSearchPath(dirs, names, (err, r) => {
      if (err !== undefined) { reject(err); return }
      const files = r.names.split('\0')
      const out: ScannedEntry[] = []
      for (let i = 0, k = 0; k + FIELDS <= r.facts.length; i++, k += FIELDS) {
        const f = r.facts
        out.push({
          dir: r.dirs[f[k]!] ?? '', file: files[i]!, type: SCAN_TYPES[f[k + 1]!]!, readOnly: f[k + 2] === 1, erofs: f[k + 3] === 1,
          crtime: BigInt(f[k + 4]!), mtime: BigInt(f[k + 5]!), size: BigInt(f[k + 6]!), used: BigInt(f[k + 7]!),
        })
      }
      resolve(out)
    })
  })
}
