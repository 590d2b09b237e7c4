// The core's image functions over the fake pool: systemd's check order
// (operations, names, rights, then what the image allows), its messages,
// the rules for vendor images and .host, the operation limit, and what
// CleanPool removes and keeps.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { cleanPool, cloneImage, findImage, imageToChange, markImageReadOnly, removeImage, renameImage, setImageLimit, setPoolLimit } from '../../src/core/image-control.ts'
import { imageMetadata } from '../../src/core/image-inspect.ts'
import type { Manager } from '../../src/core/manager.ts'
import { errnoFailure } from '../../src/protocol/errno.ts'
import {
  AccessDeniedError, BusyError, FileExistsError, InvalidArgsError, MachinedError, NoSuchImageError, NotSupportedError, ReadOnlyFileSystemError, TooManyOperationsError,
} from '../../src/protocol/errors.ts'
import { UINT64_MAX } from '../../src/protocol/image.ts'
import type { FakeImagePool } from '../fakes/image-pool.ts'
import { rejectsWith, world } from '../helpers/manager-fixtures.ts'

const ROOT = { uid: 0, pid: 1 }
const ALICE = { uid: 1000, pid: 4242 }

function pool(options: { maxOperations?: number } = {}): { manager: Manager; images: FakeImagePool } {
  const w = world(options.maxOperations === undefined ? {} : { limits: { maxMachines: 10, maxOperations: options.maxOperations } })
  const images = w.ports.images
  images.add('alpha', { metadata: { hostname: 'alphahost', osRelease: [['ID', 'debian']] }, bytes: 12_288n })
  images.add('beta')
  images.add('.hidden')
  images.add('disk', { type: 'raw', bytes: 4096n })
  images.add('vendor1', { dir: 1 })
  return { manager: w.manager, images }
}

/** Takes the only operation place until release() is called. */
function occupy(manager: Manager): () => void {
  let release = (): void => undefined
  void manager.runOperation(() => new Promise<void>((resolve) => { release = resolve }))
  return () => release()
}

const image = async (manager: Manager, name: string) => imageToChange(manager, name)

void describe('images: lookups', () => {
  void test('a *Image(name) call: an invalid name is InvalidArgs, an unknown one NoSuchImage', async () => {
    const { manager } = pool()
    await rejectsWith(imageToChange(manager, 'a/b'), InvalidArgsError, "Image name 'a/b' is invalid.")
    await rejectsWith(imageToChange(manager, '.#tmp'), InvalidArgsError, "Image name '.#tmp' is invalid.")
    await rejectsWith(imageToChange(manager, 'nope'), NoSuchImageError, "No image 'nope' known")
    assert.equal((await imageToChange(manager, 'alpha')).name, 'alpha')
  })

  void test('GetImage finds nothing for an invalid name (image_find()), and always finds .host', async () => {
    const { manager } = pool()
    assert.equal(await findImage(manager, 'a/b'), undefined)
    assert.equal((await findImage(manager, '.host'))?.path, '/')
  })
})

void describe('images: changes', () => {
  void test('only root changes images; a refusal comes after the operation limit and the name checks', async () => {
    const { manager } = pool({ maxOperations: 1 })
    const alpha = await image(manager, 'alpha')
    await rejectsWith(removeImage(manager, alpha, ALICE), AccessDeniedError, 'Permission denied')
    await rejectsWith(renameImage(manager, alpha, 'x/y', ALICE), InvalidArgsError, "Image name 'x/y' is invalid.")
    await rejectsWith(renameImage(manager, alpha, 'gamma', ALICE), AccessDeniedError, 'Permission denied')
    await rejectsWith(cloneImage(manager, alpha, 'gamma', false, ALICE), AccessDeniedError, 'Permission denied')
    await rejectsWith(markImageReadOnly(manager, alpha, true, ALICE), AccessDeniedError, 'Permission denied')
    await rejectsWith(setImageLimit(manager, alpha, 1000n, ALICE), AccessDeniedError, 'Permission denied')
    await rejectsWith(setPoolLimit(manager, 1000n, ALICE), AccessDeniedError, 'Permission denied')
    await rejectsWith(cleanPool(manager, 'all', ALICE), AccessDeniedError, 'Permission denied')
    const release = occupy(manager)
    await rejectsWith(removeImage(manager, alpha, ALICE), TooManyOperationsError, 'Too many ongoing operations.')
    await rejectsWith(cloneImage(manager, alpha, 'x/y', false, ROOT), TooManyOperationsError, 'Too many ongoing operations.')
    await rejectsWith(cleanPool(manager, 'bogus', ROOT), TooManyOperationsError, 'Too many ongoing operations.')
    release()
  })

  void test('vendor images and .host are EROFS for every change; .host as a new name is EBUSY', async () => {
    const { manager } = pool()
    for (const name of ['vendor1', '.host']) {
      const i = await image(manager, name)
      await rejectsWith(removeImage(manager, i, ROOT), ReadOnlyFileSystemError, 'Read-only file system')
      await rejectsWith(renameImage(manager, i, 'other', ROOT), ReadOnlyFileSystemError, 'Read-only file system')
      await rejectsWith(markImageReadOnly(manager, i, false, ROOT), ReadOnlyFileSystemError, 'Read-only file system')
    }
    const alpha = await image(manager, 'alpha')
    await rejectsWith(renameImage(manager, alpha, '.host', ROOT), BusyError, 'Device or resource busy')
    await rejectsWith(cloneImage(manager, alpha, '.host', false, ROOT), BusyError, 'Device or resource busy')
    await rejectsWith(cloneImage(manager, await image(manager, '.host'), 'hostcopy', false, ROOT), NotSupportedError, "Cloning the host's root directory is not supported.")
  })

  void test('rename, clone and read-only change the pool; taken names are FileExists', async () => {
    const { manager, images } = pool()
    await renameImage(manager, await image(manager, 'beta'), 'gamma', ROOT)
    assert.deepEqual((await images.discover()).map((i) => i.name).sort(), ['.hidden', '.host', 'alpha', 'disk', 'gamma', 'vendor1'])
    await rejectsWith(renameImage(manager, await image(manager, 'gamma'), 'alpha', ROOT), FileExistsError, 'File exists')
    await cloneImage(manager, await image(manager, 'alpha'), 'delta', true, ROOT)
    assert.equal((await image(manager, 'delta')).readOnly, true)
    await rejectsWith(cloneImage(manager, await image(manager, 'alpha'), 'delta', false, ROOT), FileExistsError, 'File exists')
    await markImageReadOnly(manager, await image(manager, 'gamma'), true, ROOT)
    assert.equal((await image(manager, 'gamma')).readOnly, true)
    await removeImage(manager, await image(manager, 'gamma'), ROOT)
    await rejectsWith(imageToChange(manager, 'gamma'), NoSuchImageError, "No image 'gamma' known")
  })

  void test('an image in use (its lock held) cannot be removed, renamed or marked; it can be cloned and read', async () => {
    const { manager, images } = pool()
    const beta = await image(manager, 'beta')
    images.locks.set(beta.path, 1)
    await rejectsWith(removeImage(manager, beta, ROOT), BusyError, 'Device or resource busy')
    await rejectsWith(renameImage(manager, beta, 'beta2', ROOT), BusyError, 'Device or resource busy')
    await rejectsWith(markImageReadOnly(manager, beta, true, ROOT), BusyError, 'Device or resource busy')
    await cloneImage(manager, beta, 'beta3', false, ROOT)
    assert.deepEqual(await imageMetadata(manager, beta), { hostname: '', machineId: '', machineInfo: [], osRelease: [] })
    images.locks.set(beta.path, -1)
    await rejectsWith(imageMetadata(manager, beta), BusyError, 'Failed to read image metadata: Device or resource busy')
  })

  void test('limits: out of range, only subvolumes, and the pool\'s refusal as it words it', async () => {
    const { manager } = pool()
    const alpha = await image(manager, 'alpha')
    await rejectsWith(setImageLimit(manager, alpha, 1n << 63n, ROOT), InvalidArgsError, 'New limit out of range')
    await rejectsWith(setImageLimit(manager, alpha, 1000n, ROOT), NotSupportedError, 'Operation not supported')
    await rejectsWith(setPoolLimit(manager, UINT64_MAX - 1n, ROOT), InvalidArgsError, 'New limit out of range')
    await rejectsWith(setPoolLimit(manager, UINT64_MAX, ROOT), NotSupportedError, 'Quota is only supported on btrfs.')
  })
})

void describe('images: CleanPool', () => {
  void test('hidden images only, or all but vendor images, .host and images in use', async () => {
    const { manager, images } = pool()
    await rejectsWith(cleanPool(manager, 'some', ROOT), InvalidArgsError, "Unknown mode 'some'.")
    assert.deepEqual(await cleanPool(manager, 'hidden', ROOT), [{ name: '.hidden', usageExclusive: UINT64_MAX }])
    images.locks.set((await image(manager, 'beta')).path, 1)
    const removed = await cleanPool(manager, 'all', ROOT)
    assert.deepEqual(removed.map((r) => [r.name, r.usageExclusive]), [['alpha', UINT64_MAX], ['disk', 4096n]])
    assert.deepEqual((await images.discover()).map((i) => i.name).sort(), ['.host', 'beta', 'vendor1'])
  })

  void test('a failure names the image and keeps the errno', async () => {
    const { manager, images } = pool()
    images.failNext = errnoFailure('ENOSPC', '')
    await assert.rejects(cleanPool(manager, 'all', ROOT), (err: unknown) => {
      assert.ok(err instanceof MachinedError)
      assert.match(err.message, /^Failed to remove image \S+: No space left on device$/)
      assert.equal(err.errnoName, 'ENOSPC')
      return true
    })
  })
})

void describe('images: metadata', () => {
  void test('read through the pool; a raw image is read as an operation, a directory is not', async () => {
    const { manager } = pool({ maxOperations: 1 })
    assert.equal((await imageMetadata(manager, await image(manager, 'alpha'))).hostname, 'alphahost')
    const release = occupy(manager)
    assert.equal((await imageMetadata(manager, await image(manager, 'beta'))).hostname, '')
    await rejectsWith(imageMetadata(manager, await image(manager, 'disk')), TooManyOperationsError, 'Too many ongoing operations.')
    release()
  })
})
