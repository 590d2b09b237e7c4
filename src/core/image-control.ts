/**
 * Changing images (systemd's image-dbus.c and machined-dbus.c, with the
 * rules of discover-image.c): each function takes the image already found,
 * checks what systemd checks in its order (the operation limit, names,
 * rights, then what the image allows), and hands the file-system work to
 * the ImagePool port. Long work (clone, remove, clean) runs as an
 * operation under the limit every caller shares.
 * @module
 */

import { InvalidArgsError, MachinedError, NotSupportedError, ReadOnlyFileSystemError, errorFromCode } from '../protocol/errors.ts'
import { HOST_IMAGE_NAME, imageIsHidden, imageNameIsValid, limitIsValid } from '../protocol/image.ts'
import { ACTIONS, type Caller } from './authorization.ts'
import type { Manager } from './manager.ts'
import type { Image } from './ports.ts'

/** IMAGE_IS_HOST(). */
export function imageIsHost(image: Image): boolean {
  return image.name === HOST_IMAGE_NAME || image.path === '/'
}

/** What discover-image.c refuses first for every change: vendor images and the host's root are EROFS. */
function checkChangeable(image: Image): void {
  if (image.vendor || imageIsHost(image)) throw new ReadOnlyFileSystemError()
}

function checkName(name: string): void {
  if (!imageNameIsValid(name)) throw new InvalidArgsError(`Image name '${name}' is invalid.`, { parameter: 'newName' })
}

/** The image of a valid name, or undefined (image_find() finds nothing for an invalid name). */
export async function findImage(manager: Manager, name: string): Promise<Image | undefined> {
  if (!imageNameIsValid(name)) return undefined
  return manager.ports.images.find(name)
}

/**
 * redirect_method_to_image(): the image a *Image(name, …) call names: an
 * invalid name is InvalidArgs, an unknown one NoSuchImage.
 */
export async function imageToChange(manager: Manager, name: string): Promise<Image> {
  if (!imageNameIsValid(name)) throw new InvalidArgsError(`Image name '${name}' is invalid.`, { parameter: 'name' })
  const image = await manager.ports.images.find(name)
  if (image === undefined) throw errorFromCode('NO_SUCH_IMAGE', `No image '${name}' known`)
  return image
}

/** RemoveImage: an operation; an image in use is BUSY. */
export async function removeImage(manager: Manager, image: Image, caller: Caller): Promise<void> {
  manager.checkOperationRoom()
  manager.ports.authorizer.check(caller, ACTIONS.manageImages)
  checkChangeable(image)
  await manager.runOperation(() => manager.ports.images.remove(image))
  manager.imageUsage.forget(image)
}

/** RenameImage: a rename(2) in the image's own directory, so no operation. */
export async function renameImage(manager: Manager, image: Image, newName: string, caller: Caller): Promise<void> {
  checkName(newName)
  manager.ports.authorizer.check(caller, ACTIONS.manageImages)
  checkChangeable(image)
  await manager.ports.images.rename(image, newName)
  manager.imageUsage.forget(image)
}

/**
 * CloneImage: an operation, into the pool whatever the image's own
 * directory. Copying the host's root into the pool, which lies inside it,
 * is refused (systemd starts copying the whole host).
 */
export async function cloneImage(manager: Manager, image: Image, newName: string, readOnly: boolean, caller: Caller): Promise<void> {
  manager.checkOperationRoom()
  checkName(newName)
  manager.ports.authorizer.check(caller, ACTIONS.manageImages)
  if (newName === HOST_IMAGE_NAME) throw errorFromCode('BUSY', 'Device or resource busy')
  if (imageIsHost(image)) throw new NotSupportedError('Cloning the host\'s root directory is not supported.')
  await manager.runOperation(() => manager.ports.images.clone(image, newName, readOnly))
}

/** MarkImageReadOnly. */
export async function markImageReadOnly(manager: Manager, image: Image, readOnly: boolean, caller: Caller): Promise<void> {
  manager.ports.authorizer.check(caller, ACTIONS.manageImages)
  checkChangeable(image)
  await manager.ports.images.setReadOnly(image, readOnly)
}

function checkLimit(limit: bigint): void {
  if (!limitIsValid(limit)) throw new InvalidArgsError('New limit out of range', { parameter: 'limit' })
}

/** SetImageLimit: btrfs subvolumes only ("Operation not supported" for anything else). */
export async function setImageLimit(manager: Manager, image: Image, limit: bigint, caller: Caller): Promise<void> {
  checkLimit(limit)
  manager.ports.authorizer.check(caller, ACTIONS.manageImages)
  checkChangeable(image)
  if (image.type !== 'subvolume') throw new NotSupportedError('Operation not supported')
  await manager.ports.images.setLimit(image, limit)
}

/** SetPoolLimit (polkit's manage-machines in systemd, root only either way). */
export async function setPoolLimit(manager: Manager, limit: bigint, caller: Caller): Promise<void> {
  checkLimit(limit)
  manager.ports.authorizer.check(caller, ACTIONS.manageMachines)
  await manager.ports.images.setPoolLimit(limit)
}

export const CLEAN_POOL_MODES = ['all', 'hidden'] as const

/** One image CleanPool removed, and the exclusive space it freed (UINT64_MAX when not known). */
export interface CleanedImage {
  readonly name: string
  readonly usageExclusive: bigint
}

/**
 * CleanPool: every image (or only hidden ones) but vendor images and the
 * host's, in one operation; images in use are kept. A failure names the
 * image: "Failed to remove image NAME: …".
 */
export async function cleanPool(manager: Manager, mode: string, caller: Caller): Promise<CleanedImage[]> {
  manager.checkOperationRoom()
  if (!(CLEAN_POOL_MODES as readonly string[]).includes(mode)) throw new InvalidArgsError(`Unknown mode '${mode}'.`, { parameter: 'mode' })
  manager.ports.authorizer.check(caller, ACTIONS.manageMachines)
  return manager.runOperation(async () => {
    const removed: CleanedImage[] = []
    for (const image of await manager.ports.images.discover()) {
      if (image.vendor || imageIsHost(image) || (mode === 'hidden' && !imageIsHidden(image.name))) continue
      try {
        await manager.ports.images.remove(image)
      } catch (err) {
        if (err instanceof MachinedError && err.code === 'BUSY') continue
        if (err instanceof MachinedError) throw errorFromCode(err.code, `Failed to remove image ${image.name}: ${err.message}`, err.errnoName === undefined ? {} : { errnoName: err.errnoName })
        throw err
      }
      manager.imageUsage.forget(image)
      removed.push({ name: image.name, usageExclusive: image.usageExclusive })
    }
    return removed
  })
}
