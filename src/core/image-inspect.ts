/**
 * Looking at images (image-dbus.c's GetHostname, GetMachineID,
 * GetMachineInfo, GetOSRelease, and the properties): the metadata inside
 * an image, read through the ImagePool port, and the image's usage as far
 * as it is known. Reading a raw image attaches it through a loop device
 * in a child process: an operation under the shared limit.
 * @module
 */

import { errorFromCode, MachinedError } from '../protocol/errors.ts'
import type { ImageMetadata } from '../protocol/image.ts'
import type { Manager } from './manager.ts'
import type { Image } from './ports.ts'

/** How long one image's status waits for its usage to be measured (a list never waits). */
export const USAGE_WAIT_MS = 2000

/**
 * image_read_metadata(), with systemd's wording for its failures: "Failed
 * to read image metadata: " and the errno's text (EBUSY while a container
 * holds the image exclusively, ENOPKG for a raw image without an OS).
 */
export async function imageMetadata(manager: Manager, image: Image): Promise<ImageMetadata> {
  const read = (): Promise<ImageMetadata> => manager.ports.images.metadata(image)
  try {
    return await (image.type === 'raw' || image.type === 'block' ? manager.runOperation(read) : read())
  } catch (err) {
    if (!(err instanceof MachinedError) || err.code === 'TOO_MANY_OPERATIONS') throw err
    throw errorFromCode(err.code, `Failed to read image metadata: ${err.message}`, err.errnoName === undefined ? {} : { errnoName: err.errnoName })
  }
}

/** Every image with the usage known so far (ListImages); old or missing measurements start in the background. */
export async function listImages(manager: Manager): Promise<Image[]> {
  return (await manager.ports.images.discover()).map((i) => manager.imageUsage.current(i))
}

/** One image with its usage measured (its properties): waits up to USAGE_WAIT_MS for a tree to be walked. */
export function imageWithUsage(manager: Manager, image: Image): Promise<Image> {
  return manager.imageUsage.measured(image, USAGE_WAIT_MS)
}

/** PoolUsage and PoolLimit. */
export function poolQuota(manager: Manager): Promise<{ usage: bigint; limit: bigint }> {
  return manager.ports.images.poolQuota()
}
