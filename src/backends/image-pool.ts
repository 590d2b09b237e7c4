/**
 * The ImagePool port on the local file system (systemd's discover-image.c
 * and machine-pool.c): discovery (image-discovery.ts), the changes under
 * nspawn's locks (image-lock.ts), clones (image-clone.ts), metadata
 * (image-metadata.ts, image-loop.ts), quotas on btrfs (btrfs.ts) and
 * usage measured by du. Every path is injectable, so tests can run a pool
 * anywhere; the defaults are systemd's.
 * @module
 */

import { constants } from 'node:fs'
import { chmod, lstat, mkdir, open, rename, rmdir, stat, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { execFileAsync } from '../linux/exec-file.ts'
import { errnoFailure } from '../protocol/errno.ts'
import { MachinedError, NotSupportedError } from '../protocol/errors.ts'
import { UINT64_MAX, type ImageMetadata } from '../protocol/image.ts'
import type { Image, ImagePool } from '../core/ports.ts'
import { lockImageName, lockImagePath, NSPAWN_LOCK_DIR, type ImageLock, type ImageLockOptions } from '../native/image-lock.ts'
import { blockDeviceSetReadOnly, btrfsSetReadOnly, btrfsSubvolumeInfo, FS_IMMUTABLE_FL } from '../native/images.ts'
import { deleteSubvolume, isSubvolume, onBtrfs, quotaEnabled, setQuotaLimit, subvolumeQuota } from './btrfs.ts'
import { cloneAuxFiles, removeAuxFiles, renameAuxFiles, renameNoReplace, type AuxDirs } from './image-aux.ts'
import { cloneImageFiles, openAndSet, removeTree } from './image-clone.ts'
import { discoverImages, findImage, MACHINE_SEARCH_PATH, type DiscoveryConfig } from './image-discovery.ts'
import { readRawMetadata } from './image-loop.ts'
import { readTreeMetadata } from './image-metadata.ts'

export interface LocalImagePoolOptions {
  /** Where new images go (/var/lib/machines). */
  readonly poolPath?: string
  /** Where images are looked for, in order (systemd 252's list). */
  readonly searchPath?: readonly string[]
  /** Images under these are vendor images ("/usr"). */
  readonly vendorRoots?: readonly string[]
  /** The ".host" image's root ("/"). */
  readonly hostRoot?: string
  /** nspawn's global lock directory (/run/systemd/nspawn/locks). */
  readonly lockDir?: string
  /** nspawn's runtime settings directory (/run/systemd/nspawn). */
  readonly runSettingsDir?: string
  /** Where raw images are mounted (in a namespace of their own) to be read. */
  readonly mountDir?: string
  /** Whether directory trees are measured (du) at all; without, their usage is unknown, as in systemd. */
  readonly measureUsage?: boolean
}

/** A MachinedError for whatever a file-system call threw: strerror() of its errno, as systemd's "%m". */
function asMachinedError(err: unknown): unknown {
  if (err instanceof MachinedError) return err
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? errnoFailure(code, (err as Error).message) : err
}

/**
 * rename_noreplace() for a directory: an empty directory made at the target
 * first (EEXIST if anything is there) is what the rename replaces. An
 * immutable directory cannot be renamed: the flag is lifted for the rename
 * and put back after, on whichever name the directory has then.
 */
async function renameDirectory(from: string, to: string): Promise<void> {
  const before = await openAndSet(from, 0).catch(() => 0)
  let moved = false
  try {
    await mkdir(to)
    await rename(from, to).catch(async (err: unknown) => {
      await rmdir(to).catch(() => undefined)
      throw err
    })
    moved = true
  } finally {
    if ((before & FS_IMMUTABLE_FL) !== 0) await openAndSet(moved ? to : from, FS_IMMUTABLE_FL).catch(() => undefined)
  }
}

export class LocalImagePool implements ImagePool {
  readonly poolPath: string
  readonly #discovery: DiscoveryConfig
  readonly #locks: ImageLockOptions
  readonly #aux: AuxDirs
  readonly #mountDir: string
  readonly measuresUsage: boolean

  constructor(options: LocalImagePoolOptions = {}) {
    this.poolPath = options.poolPath ?? '/var/lib/machines'
    this.#discovery = {
      searchPath: options.searchPath ?? MACHINE_SEARCH_PATH,
      vendorRoots: options.vendorRoots ?? ['/usr'],
      hostRoot: options.hostRoot ?? '/',
    }
    this.#locks = { lockDir: options.lockDir ?? NSPAWN_LOCK_DIR }
    this.#aux = { runSettings: options.runSettingsDir ?? '/run/systemd/nspawn' }
    this.#mountDir = options.mountDir ?? '/run/machined-ts/image-mounts'
    this.measuresUsage = options.measureUsage ?? true
  }

  async #withQuota(image: Image): Promise<Image> {
    if (image.type !== 'subvolume') return image
    const quota = await this.#subvolumeQuota(image.path)
    if (quota === undefined) return image
    return { ...image, usage: quota.referenced, usageExclusive: quota.exclusive, limit: quota.referencedMax, limitExclusive: quota.exclusiveMax }
  }

  async #subvolumeQuota(path: string): Promise<Awaited<ReturnType<typeof subvolumeQuota>>> {
    const file = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOCTTY)
    let id: bigint
    try {
      id = btrfsSubvolumeInfo(file.fd).id
    } finally {
      await file.close()
    }
    return subvolumeQuota(path, id)
  }

  async discover(): Promise<Image[]> {
    try {
      const images = await discoverImages(this.#discovery)
      // Only subvolumes have a quota to look up: no promise per image otherwise.
      return images.some((i) => i.type === 'subvolume') ? await Promise.all(images.map((i) => this.#withQuota(i))) : images
    } catch (err) {
      throw asMachinedError(err)
    }
  }

  async find(name: string): Promise<Image | undefined> {
    try {
      const image = await findImage(this.#discovery, name)
      return image === undefined ? undefined : await this.#withQuota(image)
    } catch (err) {
      throw asMachinedError(err)
    }
  }

  /** Runs `work` holding the image's locks (and `newName`'s); EBUSY when someone else holds one. */
  async #locked<T>(image: Image, mode: 'shared' | 'exclusive', newName: string | undefined, work: () => Promise<T>): Promise<T> {
    const locks: ImageLock[] = []
    try {
      locks.push(await lockImagePath(image.path, mode, this.#locks))
      if (newName !== undefined) locks.push(await lockImageName(newName, this.#locks))
      return await work()
    } catch (err) {
      throw asMachinedError(err)
    } finally {
      for (const l of locks.reverse()) await l.release().catch(() => undefined)
    }
  }

  /** EEXIST when an image of that name exists anywhere in the search path. */
  async #checkFree(name: string): Promise<void> {
    if ((await findImage(this.#discovery, name)) !== undefined) throw errnoFailure('EEXIST', 'File exists')
  }

  async remove(image: Image): Promise<void> {
    await this.#locked(image, 'exclusive', undefined, async () => {
      const link = (await lstat(image.path)).isSymbolicLink()
      switch (image.type) {
        case 'subvolume':
          if (link) await unlink(image.path)
          else await deleteSubvolume(image.path)
          break
        case 'directory':
          if (link) await unlink(image.path)
          else await removeTree(image.path)
          break
        case 'block':
          // A real device node under /dev stays; anything else is most likely a symlink.
          if (!image.path.startsWith('/dev/')) await unlink(image.path)
          break
        case 'raw':
          await unlink(image.path)
          break
      }
      await removeAuxFiles(image.name, image.path, this.#aux)
    })
  }

  async rename(image: Image, newName: string): Promise<void> {
    await this.#locked(image, 'exclusive', newName, async () => {
      await this.#checkFree(newName)
      // Device names under /dev are udev's to pick.
      if (image.type === 'block' && image.path.startsWith('/dev/')) throw errnoFailure('EROFS', 'Read-only file system')
      const target = join(dirname(image.path), image.type === 'raw' ? `${newName}.raw` : newName)
      if ((await lstat(image.path)).isDirectory()) await renameDirectory(image.path, target)
      else await renameNoReplace(image.path, target)
      await renameAuxFiles(image.name, image.path, newName, this.#aux)
    })
  }

  async clone(image: Image, newName: string, readOnly: boolean): Promise<void> {
    let lock: ImageLock | undefined
    try {
      lock = await lockImageName(newName, this.#locks)
      await this.#checkFree(newName)
      await cloneImageFiles(image, newName, readOnly, this.poolPath)
      await cloneAuxFiles(image.name, image.path, newName, this.#aux)
    } catch (err) {
      throw asMachinedError(err)
    } finally {
      await lock?.release().catch(() => undefined)
    }
  }

  async setReadOnly(image: Image, readOnly: boolean): Promise<void> {
    await this.#locked(image, 'exclusive', undefined, async () => {
      switch (image.type) {
        case 'subvolume':
        case 'block': {
          const file = await open(image.path, constants.O_RDONLY | constants.O_NOCTTY | (image.type === 'block' ? constants.O_NONBLOCK : constants.O_DIRECTORY))
          try {
            if (image.type === 'block') blockDeviceSetReadOnly(file.fd, readOnly)
            else btrfsSetReadOnly(file.fd, readOnly)
          } finally {
            await file.close()
          }
          break
        }
        case 'directory':
          // Only the top directory: the tree must stay usable inside a container (as systemd).
          await openAndSet(image.path, readOnly ? FS_IMMUTABLE_FL : 0)
          break
        case 'raw': {
          const st = await stat(image.path)
          await chmod(image.path, (st.mode & 0o444) | (readOnly ? 0 : 0o200))
          break
        }
      }
    })
  }

  async setLimit(image: Image, limit: bigint): Promise<void> {
    if (!(await quotaEnabled(image.path))) throw new NotSupportedError(`Quota is not enabled on the file system of ${image.path}: enable it first (btrfs quota enable), machined-ts never does.`)
    await setQuotaLimit(image.path, limit)
  }

  async setPoolLimit(limit: bigint): Promise<void> {
    if (!(await onBtrfs(this.poolPath))) throw new NotSupportedError('Quota is only supported on btrfs.')
    if (!(await isSubvolume(this.poolPath))) throw new NotSupportedError(`${this.poolPath} is not a btrfs subvolume, so it has no quota of its own.`)
    if (!(await quotaEnabled(this.poolPath))) throw new NotSupportedError(`Quota is not enabled on the file system of ${this.poolPath}: enable it first (btrfs quota enable), machined-ts never does.`)
    await setQuotaLimit(this.poolPath, limit)
  }

  async poolQuota(): Promise<{ usage: bigint; limit: bigint }> {
    const none = { usage: UINT64_MAX, limit: UINT64_MAX }
    if (!(await isSubvolume(this.poolPath).catch(() => false))) return none
    const quota = await this.#subvolumeQuota(this.poolPath).catch(() => undefined)
    return quota === undefined ? none : { usage: quota.referenced, limit: quota.referencedMax }
  }

  async metadata(image: Image): Promise<ImageMetadata> {
    return this.#locked(image, 'shared', undefined, () => (
      image.type === 'raw' || image.type === 'block' ? readRawMetadata(image.path, this.#mountDir) : readTreeMetadata(image.path)
    ))
  }

  /** du: blocks in use, each inode once, not crossing into other file systems. */
  async scanUsage(image: Image): Promise<bigint> {
    try {
      const { stdout } = await execFileAsync('du', ['-s', '-x', '-B1', '--', image.path], { timeout: 30 * 60_000 })
      return BigInt(stdout.split('\t')[0] ?? '')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (typeof code === 'number' || code === undefined) return UINT64_MAX
      throw asMachinedError(err)
    }
  }
}
