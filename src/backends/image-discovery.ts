/**
 * Finding images the way systemd 252 does (discover-image.c:
 * image_discover(), image_find(), image_make()): every directory of the
 * search path in turn, entries followed through symlinks (so trees, raw
 * files and block devices may be linked in), a name taken by the first
 * directory that has it. Directories are "directory" images, or
 * "subvolume" where they are the top of a btrfs subvolume; regular files
 * named NAME.raw are "raw" images called NAME; block devices are "block"
 * images. Hidden names count; ".host" (the host's root) is always there.
 *
 * What an image is read-only by: being under /usr (a vendor image), a
 * read-only mount (EROFS), the btrfs read-only flag, FS_IMMUTABLE_FL on a
 * directory, a raw file or device without write bits, or BLKROGET.
 * @module
 */

import { constants } from 'node:fs'
import { access, open, readdir, realpath, stat, statfs } from 'node:fs/promises'
import { join } from 'node:path'
import type { BigIntStats } from 'node:fs'
import { HOST_IMAGE_NAME, imageNameIsValid, UINT64_MAX, type ImageType } from '../protocol/image.ts'
import type { Image } from '../core/ports.ts'
import { blockDeviceInfo, btrfsSubvolumeInfo, fileAttributes, FS_IMMUTABLE_FL } from '../native/images.ts'

/** systemd 252's search path for machine images, in order. */
export const MACHINE_SEARCH_PATH = ['/etc/machines', '/run/machines', '/var/lib/machines', '/var/lib/container', '/usr/local/lib/machines', '/usr/lib/machines'] as const

export const BTRFS_SUPER_MAGIC = 0x9123683e
/** BTRFS_FIRST_FREE_OBJECTID: the inode number of every subvolume's top directory. */
const BTRFS_SUBVOLUME_INODE = 256n

export interface DiscoveryConfig {
  readonly searchPath: readonly string[]
  /** Images under these are vendor images (IMAGE_IS_VENDOR(): "/usr"). */
  readonly vendorRoots: readonly string[]
  /** The host's root, the ".host" image ("/"). */
  readonly hostRoot: string
}

function under(path: string, roots: readonly string[]): boolean {
  return roots.some((r) => path === r || path.startsWith(r.endsWith('/') ? r : `${r}/`))
}

const usec = (ns: bigint): bigint => ns / 1000n

/** ENOENT and friends: the entry went away, or is nothing we know (systemd skips -ENOENT and -EMEDIUMTYPE). */
function gone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code
  return code === 'ENOENT' || code === 'ENOTDIR'
}

/** faccessat(W_OK) failing with EROFS: on a read-only mount. */
async function onReadOnlyMount(path: string): Promise<boolean> {
  try {
    await access(path, constants.W_OK)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EROFS'
  }
}

/** Runs `f` on an fd of `path` opened with `flags`; undefined when the call fails (systemd ignores such failures). */
async function withFd<T>(path: string, flags: number, f: (fd: number) => T): Promise<T | undefined> {
  const file = await open(path, flags | constants.O_NOCTTY)
  try {
    return f(file.fd)
  } catch {
    return undefined
  } finally {
    await file.close()
  }
}

function record(name: string, path: string, type: ImageType, vendor: boolean, fields: Partial<Image>): Image {
  return {
    name, path, type, vendor, readOnly: false, crtime: 0n, mtime: 0n,
    usage: UINT64_MAX, usageExclusive: UINT64_MAX, limit: UINT64_MAX, limitExclusive: UINT64_MAX,
    ...fields,
  }
}

/**
 * image_make(): what the entry `fileName` of directory `dir` (undefined
 * for the host's root) is, as image `name`; undefined when it is no image.
 */
export async function makeImage(name: string, dir: string | undefined, fileName: string, st: BigIntStats, config: DiscoveryConfig): Promise<Image | undefined> {
  const path = dir === undefined ? fileName : join(dir, fileName)
  const vendor = dir !== undefined && under(path, config.vendorRoots)
  const readOnly = vendor || (await onReadOnlyMount(path))
  if (st.isDirectory()) {
    if (st.ino === BTRFS_SUBVOLUME_INODE && (await statfs(path)).type === BTRFS_SUPER_MAGIC) {
      const info = await withFd(path, constants.O_RDONLY | constants.O_DIRECTORY, btrfsSubvolumeInfo)
      if (info !== undefined) return record(name, path, 'subvolume', vendor, { readOnly: readOnly || info.readOnly, crtime: info.otimeUsec })
    }
    const attributes = await withFd(path, constants.O_RDONLY | constants.O_DIRECTORY, fileAttributes)
    // The directory's mtime says nothing about the tree below it: no modification time (as systemd).
    return record(name, path, 'directory', vendor, { readOnly: readOnly || ((attributes ?? 0) & FS_IMMUTABLE_FL) !== 0, crtime: usec(st.birthtimeNs) })
  }
  if (st.isFile() && fileName.endsWith('.raw')) {
    const used = st.blocks * 512n
    return record(name, path, 'raw', vendor, {
      readOnly: readOnly || (st.mode & 0o222n) === 0n, crtime: usec(st.birthtimeNs), mtime: usec(st.mtimeNs),
      usage: used, usageExclusive: used, limit: st.size, limitExclusive: st.size,
    })
  }
  if (st.isBlockDevice()) {
    const info = await withFd(path, constants.O_RDONLY | constants.O_NONBLOCK, blockDeviceInfo).catch(() => undefined)
    const size = info === undefined || info.size === 0n ? UINT64_MAX : info.size
    return record(name, path, 'block', vendor, {
      readOnly: readOnly || info?.readOnly === true || (st.mode & 0o222n) === 0n,
      usage: size, usageExclusive: size, limit: size, limitExclusive: size,
    })
  }
  return undefined
}

/** The search directories that exist, resolved (chase_symlinks_and_opendir()). */
async function searchDirs(config: DiscoveryConfig): Promise<string[]> {
  const dirs = await Promise.all(config.searchPath.map((d) => realpath(d).catch((err: unknown) => {
    if (gone(err)) return undefined
    throw err
  })))
  return dirs.filter((d): d is string => d !== undefined)
}

/** The ".host" image: the host's root directory. */
export async function hostImage(config: DiscoveryConfig): Promise<Image> {
  const image = await makeImage(HOST_IMAGE_NAME, undefined, config.hostRoot, await stat(config.hostRoot, { bigint: true }), config)
  if (image === undefined) throw new Error(`${config.hostRoot} is not a directory`)
  return image
}

/** The image name an entry stands for, from its type: NAME.raw for regular files, the entry itself for directories and devices. */
function nameOf(entry: string, st: BigIntStats): string | undefined {
  if (st.isFile()) return entry.endsWith('.raw') ? entry.slice(0, -4) : undefined
  return st.isDirectory() || st.isBlockDevice() ? entry : undefined
}

/** image_discover(): every image, first of its name winning, ".host" added. */
export async function discoverImages(config: DiscoveryConfig): Promise<Image[]> {
  const found = new Map<string, Image>()
  for (const dir of await searchDirs(config)) {
    const entries = await readdir(dir).catch((err: unknown) => {
      if (gone(err)) return []
      throw err
    })
    const images = await Promise.all(entries.map(async (entry) => {
      try {
        const st = await stat(join(dir, entry), { bigint: true })
        const name = nameOf(entry, st)
        if (name === undefined || !imageNameIsValid(name) || found.has(name)) return undefined
        return await makeImage(name, dir, entry, st, config)
      } catch (err) {
        if (gone(err)) return undefined
        throw err
      }
    }))
    for (const image of images) if (image !== undefined && !found.has(image.name)) found.set(image.name, image)
  }
  if (!found.has(HOST_IMAGE_NAME)) found.set(HOST_IMAGE_NAME, await hostImage(config))
  return [...found.values()]
}

/** image_find(): the first directory of the search path that has NAME (a directory or device) or NAME.raw. */
export async function findImage(config: DiscoveryConfig, name: string): Promise<Image | undefined> {
  if (!imageNameIsValid(name)) return undefined
  for (const dir of await searchDirs(config)) {
    for (const entry of [name, `${name}.raw`]) {
      let st: BigIntStats
      try {
        st = await stat(join(dir, entry), { bigint: true })
      } catch (err) {
        if (gone(err)) continue
        throw err
      }
      // A NAME that is neither directory nor device ends the look in this directory (NAME.raw is not tried).
      if (nameOf(entry, st) !== name) break
      try {
        const image = await makeImage(name, dir, entry, st, config)
        if (image !== undefined) return image
      } catch (err) {
        if (!gone(err)) throw err
      }
      break
    }
  }
  return name === HOST_IMAGE_NAME ? hostImage(config) : undefined
}
