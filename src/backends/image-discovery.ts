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
 * directory, a raw file or device without write bits, or BLKROGET. The
 * looking is done in one native call per listing, off the JavaScript
 * thread (native/addon/images_scan.c).
 * @module
 */

import { constants } from 'node:fs'
import { access, open, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { HOST_IMAGE_NAME, imageNameIsValid, UINT64_MAX } from '../protocol/image.ts'
import type { Image } from '../core/ports.ts'
import { fileAttributes, FS_IMMUTABLE_FL, scanSearchPath, type ScannedEntry } from '../native/images.ts'
import { entryIsReadOnly, findImageEntry, isUnder } from '../linux/image-search.ts'

export { MACHINE_SEARCH_PATH } from '../linux/image-search.ts'

export const BTRFS_SUPER_MAGIC = 0x9123683e

export interface DiscoveryConfig {
  readonly searchPath: readonly string[]
  /** Images under these are vendor images (IMAGE_IS_VENDOR(): "/usr"). */
  readonly vendorRoots: readonly string[]
  /** The host's root, the ".host" image ("/"). */
  readonly hostRoot: string
}

function record(name: string, path: string, type: Image['type'], vendor: boolean, fields: Partial<Image>): Image {
  return {
    name, path, type, vendor, readOnly: false, crtime: 0n, mtime: 0n,
    usage: UINT64_MAX, usageExclusive: UINT64_MAX, limit: UINT64_MAX, limitExclusive: UINT64_MAX,
    ...fields,
  }
}

/** image_make() from what the scan saw of the entry; undefined for an entry that is no image. */
function imageOf(name: string, e: ScannedEntry, config: DiscoveryConfig): Image | undefined {
  const path = join(e.dir, e.file)
  const vendor = isUnder(path, config.vendorRoots)
  const readOnly = entryIsReadOnly(e, config.vendorRoots)
  switch (e.type) {
    // The directory's mtime says nothing about the tree below it: no modification time (as systemd).
    case 'directory': return record(name, path, 'directory', vendor, { readOnly, crtime: e.crtime })
    case 'subvolume': return record(name, path, 'subvolume', vendor, { readOnly, crtime: e.crtime })
    case 'raw': return record(name, path, 'raw', vendor, {
      readOnly, crtime: e.crtime, mtime: e.mtime, usage: e.used, usageExclusive: e.used, limit: e.size, limitExclusive: e.size,
    })
    case 'block': {
      const size = e.size === 0n ? UINT64_MAX : e.size
      return record(name, path, 'block', vendor, { readOnly, usage: size, usageExclusive: size, limit: size, limitExclusive: size })
    }
    case 'other': return undefined
  }
}

/** The image name an entry stands for: NAME.raw for raw files, the entry itself for directories and devices. */
function nameOf(e: ScannedEntry): string | undefined {
  if (e.type === 'raw') return e.file.slice(0, -4)
  return e.type === 'other' ? undefined : e.file
}

/** The ".host" image: the host's root directory, as image_make(".host", …, "/") sees it. */
export async function hostImage(config: DiscoveryConfig): Promise<Image> {
  const st = await stat(config.hostRoot, { bigint: true })
  const erofs = await access(config.hostRoot, constants.W_OK).then(() => false, (err: NodeJS.ErrnoException) => err.code === 'EROFS')
  const file = await open(config.hostRoot, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOCTTY)
  let attributes = 0
  try {
    attributes = fileAttributes(file.fd)
  } catch {
    // No attributes on this file system: not immutable, as systemd ignores the failure.
  } finally {
    await file.close()
  }
  return record(HOST_IMAGE_NAME, config.hostRoot, 'directory', false, { readOnly: erofs || (attributes & FS_IMMUTABLE_FL) !== 0, crtime: st.birthtimeNs / 1000n })
}

/** image_discover(): every image, first of its name winning, ".host" added. */
export async function discoverImages(config: DiscoveryConfig): Promise<Image[]> {
  const found = new Map<string, Image>()
  for (const e of await scanSearchPath(config.searchPath, null)) {
    const name = nameOf(e)
    if (name === undefined || !imageNameIsValid(name) || found.has(name)) continue
    const image = imageOf(name, e, config)
    if (image !== undefined) found.set(name, image)
  }
  if (!found.has(HOST_IMAGE_NAME)) found.set(HOST_IMAGE_NAME, await hostImage(config))
  return [...found.values()]
}

/** image_find() (linux/image-search.ts), and ".host" for the host's root. */
export async function findImage(config: DiscoveryConfig, name: string): Promise<Image | undefined> {
  const entry = await findImageEntry(config.searchPath, name)
  if (entry !== undefined) return imageOf(name, entry, config)
  return name === HOST_IMAGE_NAME ? hostImage(config) : undefined
}
