/**
 * systemd-nspawn's image locks (discover-image.c: image_path_lock(),
 * image_name_lock(); lockfile-util.c: make_lock_file()), so machined-ts,
 * systemd-nspawn, systemd-machined and machined-spawn keep out of each
 * other's way. An image path gets two locks: a "global" one in
 * /run/systemd/nspawn/locks named by the image's device and inode (it
 * holds for a mount point too), and a "local" one next to the image,
 * `.#NAME.lck` (seen over NFS). A container runs with a shared lock when
 * it is read-only, an exclusive one otherwise; removing, renaming or
 * marking an image needs an exclusive lock; reading its metadata a shared
 * one. Every lock is taken without waiting: whoever finds it taken gets
 * EBUSY. SYSTEMD_NSPAWN_LOCK=0 turns locking off, as there.
 *
 * Launchers (machined-spawn running a pool image) take the lock with
 * lockImagePath() for the container's lifetime and release it on exit.
 *
 * The calls are synchronous behind the promise, as nspawn's and machined's
 * are: a lock is a handful of system calls on small local files, and a
 * trip through Node's thread pool per call (seven of them for an image path)
 * took a launcher longer, about 2 ms on its way to the container, than the
 * calls themselves.
 * @module
 */

import { closeSync, constants, fstatSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { ofdLock } from './images.ts'

/** Where nspawn keeps the global locks. */
export const NSPAWN_LOCK_DIR = '/run/systemd/nspawn/locks'

export type ImageLockMode = 'shared' | 'exclusive'

export interface ImageLockOptions {
  /** The global lock directory (tests use their own). */
  readonly lockDir?: string
  /** The environment consulted for SYSTEMD_NSPAWN_LOCK (process.env by default). */
  readonly env?: Readonly<Record<string, string | undefined>>
}

/** A held lock; release() lets go of every file it holds. */
export interface ImageLock {
  release(): Promise<void>
}

const NO_LOCK: ImageLock = { release: async () => undefined }

function busy(path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`EBUSY: resource busy or locked, lock '${path}'`)
  err.code = 'EBUSY'
  err.errno = -16
  err.path = path
  return err
}

/** SYSTEMD_NSPAWN_LOCK=0 (any false boolean) switches locking off. */
function lockingDisabled(env: Readonly<Record<string, string | undefined>>): boolean {
  const v = env.SYSTEMD_NSPAWN_LOCK?.toLowerCase()
  return v !== undefined && ['0', 'no', 'n', 'false', 'f', 'off'].includes(v)
}

class LockFile implements ImageLock {
  readonly #path: string
  readonly #fd: number
  #exclusive: boolean
  #released = false

  constructor(path: string, fd: number, exclusive: boolean) {
    this.#path = path
    this.#fd = fd
    this.#exclusive = exclusive
  }

  /**
   * release_lock_file(): the exclusive owner removes the file; a shared
   * owner tries to become exclusive first, so the last one out removes it.
   */
  async release(): Promise<void> {
    if (this.#released) return
    this.#released = true
    try {
      if (!this.#exclusive && ofdLock(this.#fd, true)) this.#exclusive = true
      if (this.#exclusive) {
        try { unlinkSync(this.#path) } catch { /* removed already */ }
      }
    } finally {
      closeSync(this.#fd)
    }
  }
}

/**
 * make_lock_file(): opens (creating) `path` and locks it. A lock won on a
 * file its previous owner had already removed is worthless: try again.
 */
export function makeLockFile(path: string, mode: ImageLockMode): ImageLock {
  for (;;) {
    const fd = openSync(path, constants.O_CREAT | constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NOCTTY, 0o600)
    try {
      if (!ofdLock(fd, mode === 'exclusive')) throw busy(path)
      if (fstatSync(fd).nlink > 0) return new LockFile(path, fd, mode === 'exclusive')
    } catch (err) {
      closeSync(fd)
      throw err
    }
    closeSync(fd)
  }
}

class LockPair implements ImageLock {
  readonly #locks: readonly ImageLock[]
  constructor(locks: readonly ImageLock[]) {
    this.#locks = locks
  }
  async release(): Promise<void> {
    for (const l of this.#locks) await l.release()
  }
}

/** glibc's major()/minor() of a dev_t. */
function majorMinor(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn)
  return `${major}:${minor}`
}

function ensureLockDir(lockDir: string): void {
  mkdirSync(dirname(lockDir), { recursive: true, mode: 0o755 })
  try {
    mkdirSync(lockDir, { mode: 0o700 })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
}

/** The global lock's file name for an image at `path` (undefined when it does not exist). */
export function globalLockName(path: string): string | undefined {
  let st
  try {
    st = statSync(path, { bigint: true })
  } catch {
    return undefined
  }
  if (st.isBlockDevice()) return `block-${majorMinor(st.rdev)}`
  if (st.isDirectory() || st.isFile()) return `inode-${st.dev}:${st.ino}`
  const err: NodeJS.ErrnoException = new Error(`ENOTTY: not an image, lock '${path}'`)
  err.code = 'ENOTTY'
  throw err
}

/**
 * image_path_lock(): both locks on the image at `path` (absolute), or
 * EBUSY. The host's root may be locked shared (a no-op) but never
 * exclusively. Block devices under /dev need no local lock; a shared
 * lock next to an image on a read-only file system is skipped.
 */
export async function lockImagePath(path: string, mode: ImageLockMode, options: ImageLockOptions = {}): Promise<ImageLock> {
  if (!path.startsWith('/')) throw Object.assign(new Error(`EINVAL: image path must be absolute: '${path}'`), { code: 'EINVAL' })
  if (lockingDisabled(options.env ?? process.env)) return NO_LOCK
  if (path.replace(/\/+$/, '') === '') {
    if (mode === 'exclusive') throw busy(path)
    return NO_LOCK
  }
  const lockDir = options.lockDir ?? NSPAWN_LOCK_DIR
  const global = globalLockName(path)
  const locks: ImageLock[] = []
  try {
    if (!path.startsWith('/dev/')) {
      const local = join(dirname(path), `.#${basename(path)}.lck`)
      try {
        locks.push(makeLockFile(local, mode))
      } catch (err) {
        if (mode === 'exclusive' || (err as NodeJS.ErrnoException).code !== 'EROFS') throw err
      }
    }
    if (global !== undefined) {
      ensureLockDir(lockDir)
      locks.push(makeLockFile(join(lockDir, global), mode))
    }
  } catch (err) {
    await new LockPair(locks).release()
    throw err
  }
  return new LockPair(locks)
}

/**
 * image_name_lock(): the name itself, whatever path an image of that name
 * has, so nobody takes a name between our check that it is free and our
 * use of it. ".host" is always busy.
 */
export async function lockImageName(name: string, options: ImageLockOptions = {}): Promise<ImageLock> {
  if (name === '.host') throw busy(name)
  if (lockingDisabled(options.env ?? process.env)) return NO_LOCK
  const lockDir = options.lockDir ?? NSPAWN_LOCK_DIR
  ensureLockDir(lockDir)
  return makeLockFile(join(lockDir, `name-${name}`), 'exclusive')
}

