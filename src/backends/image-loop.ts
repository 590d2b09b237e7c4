/**
 * Looking inside a raw image (systemd's loop_device_make_by_path() +
 * dissect_loop_device() + dissected_image_acquire_metadata()): find the
 * root file system (the partition of this architecture's root type in a
 * GPT table, else the one generic Linux partition of a GPT or MBR table,
 * else the whole image when it holds a file system), attach it read-only
 * through a loop device and mount it in a mount namespace of its own, read
 * the OS files there, and let everything go (linux/raw-image.ts does the
 * finding and mounting, with util-linux: partx, blkid, mount; the mount
 * namespace goes with its one process, so nothing stays attached or
 * mounted whatever happens to the daemon).
 * @module
 */

import type { ImageMetadata } from '../protocol/image.ts'
import { findRawRoot, withMounted } from '../linux/raw-image.ts'
import { readTreeMetadata } from './image-metadata.ts'

export { pickRoot } from '../linux/raw-image.ts'

/**
 * The metadata of the OS in a raw image (or block device). ENOPKG ("Package
 * not installed", as systemd answers) when there is no file system, ENXIO
 * when a partition table has no root partition.
 */
export async function readRawMetadata(image: string, mountBase: string): Promise<ImageMetadata> {
  return withMounted(image, await findRawRoot(image), mountBase, readTreeMetadata)
}
