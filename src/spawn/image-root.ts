/**
 * Where the container's root comes from, as systemd-nspawn decides it
 * (nspawn.c determine_names() and run()): `-D DIR`, `-i IMAGE`, or with
 * `-M NAME` alone the image NAME of the machine pool, found as
 * image_find() finds it (a directory or subvolume is a tree, a raw file or
 * block device an image; an image that is read-only runs read-only unless
 * ephemeral). Then nspawn's lock on it (image_path_lock(): shared when
 * read-only, exclusive otherwise, so systemd-nspawn, machined-spawn and
 * machined's remove/rename keep out of each other's way), --template=
 * filling a missing directory first, and the scratch directory of an
 * ephemeral run.
 * @module
 */

import { existsSync, mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { execFileAsync } from '../linux/exec-file.ts'
import { findImageEntry, entryIsReadOnly, imageAtPath, MACHINE_SEARCH_PATH } from '../linux/image-search.ts'
import { findRawRoot, withMounted } from '../linux/raw-image.ts'
import { lockImagePath, type ImageLock } from '../native/image-lock.ts'
import type { RootSetup } from './plan-root.ts'
import type { SpawnOptions } from './options.ts'
import { describeErrno } from './tree.ts'


/**
 * Where ephemeral runs keep their overlay's upper layer: on disk, so a busy
 * guest does not fill memory; one directory per run, SCRATCH_PREFIX-NAME.XXXXXX,
 * right in /var/tmp so that removing it leaves nothing.
 */
export const SCRATCH_PREFIX = '/var/tmp/machined-spawn'

/** The pool image a container runs from, as it is registered (ImageName, ImagePath). */
export interface ImageRef {
  readonly name: string
  readonly path: string
}

export interface ContainerRoot {
  readonly setup: RootSetup
  /** What the user sees in messages: the directory or the image file. */
  readonly path: string
  readonly readOnly: boolean
  readonly ephemeral: boolean
  /** The image of the search path this is, if it is one. */
  readonly image: ImageRef | undefined
}

/** A one-line failure before anything was started. */
function fail(message: string, cause?: unknown): Error {
  return new Error(message, cause === undefined ? undefined : { cause })
}

function realpathOf(path: string, what: string): string {
  try {
    return realpathSync(resolve(path))
  } catch (err) {
    throw fail(`Failed to open ${what} ${path}: ${describeErrno(err)}`, err)
  }
}

async function rawSetup(image: string): Promise<RootSetup> {
  try {
    const root = await findRawRoot(image)
    return { kind: 'raw', image, offset: root.offset, size: root.size, fsType: root.type }
  } catch (err) {
    throw fail(`Failed to dissect image ${image}: ${(err as Error).message}`, err)
  }
}

/**
 * nspawn's determine_names() and the start of run(): which tree or image,
 * read-only or not. Nothing is changed yet.
 */
export async function resolveRoot(options: SpawnOptions): Promise<ContainerRoot> {
  const base = { readOnly: options.readOnly, ephemeral: options.ephemeral }
  if (options.directory !== undefined) {
    // A directory --template= is to fill may not exist yet.
    const path = options.template !== undefined && !existsSync(options.directory) ? resolve(options.directory) : realpathOf(options.directory, 'directory')
    if (existsSync(path) && !statSync(path).isDirectory()) throw fail(`${options.directory} is not a directory`)
    if (path === '/' && !options.ephemeral) throw fail('Spawning a container on the root directory is not supported. Consider using --ephemeral.')
    return { ...base, setup: { kind: 'directory', path }, path, image: await imageAtPath(path, false) }
  }
  if (options.image !== undefined) {
    const path = realpathOf(options.image, 'image')
    return { ...base, setup: await rawSetup(path), path, image: await imageAtPath(path, true) }
  }
  const name = options.machine
  const entry = await findImageEntry(MACHINE_SEARCH_PATH, name).catch((err: unknown) => {
    throw fail(`Failed to find image for machine '${name}': ${(err as Error).message}`, err)
  })
  if (entry === undefined) throw fail(`No image for machine '${name}'.`)
  const path = join(entry.dir, entry.file)
  const readOnly = options.readOnly || (!options.ephemeral && entryIsReadOnly(entry))
  const image = { name, path }
  const real = realpathOf(path, 'image')
  if (entry.type === 'raw' || entry.type === 'block') return { ...base, readOnly, setup: await rawSetup(real), path, image }
  return { ...base, readOnly, setup: { kind: 'directory', path: real }, path, image }
}

/**
 * image_path_lock() for the run: shared when the tree is only read
 * (read-only, or the lower layer of an ephemeral overlay), exclusive
 * otherwise. nspawn 252 does not lock the tree an ephemeral snapshot is
 * taken from; an overlay reads it all along, so it is locked shared here.
 */
export async function lockRoot(root: ContainerRoot): Promise<ImageLock> {
  const path = root.setup.kind === 'directory' ? root.setup.path : root.setup.image
  try {
    return await lockImagePath(path, root.readOnly || root.ephemeral ? 'shared' : 'exclusive')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EBUSY') {
      throw fail(root.setup.kind === 'directory' ? `Directory tree ${path} is currently busy.` : `Disk image ${path} is currently busy.`, err)
    }
    throw fail(`Failed to lock ${path}: ${describeErrno(err)}`, err)
  }
}

/**
 * --template=: a missing directory is filled from the template first
 * (nspawn snapshots it; here a reflinked or full copy, `cp -a
 * --reflink=auto`, made under a temporary name and renamed into place, so
 * a failed copy leaves nothing). A directory that exists is left alone.
 */
export async function populateFromTemplate(directory: string, template: string, say: (message: string) => void): Promise<void> {
  const source = realpathOf(template, 'template')
  if (existsSync(directory)) {
    say(`Directory ${directory} already exists, not populating from template ${source}.`)
    return
  }
  mkdirSync(dirname(directory), { recursive: true, mode: 0o700 })
  const tmp = mkdtempSync(join(dirname(directory), `.#${basename(directory)}.`))
  try {
    await execFileAsync('cp', ['-a', '--reflink=auto', '--', `${source}/.`, tmp], { maxBuffer: 1 << 20 })
    renameSync(tmp, directory)
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true })
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    if (e.code === 'EEXIST' || e.code === 'ENOTEMPTY') {
      say(`Directory ${directory} already exists, not populating from template ${source}.`)
      return
    }
    throw fail(`Couldn't create snapshot ${directory} from ${source}: ${e.stderr?.trim().split('\n').at(-1) ?? describeErrno(err)}`, err)
  }
  say(`Populated ${directory} from template ${source}.`)
}

/** An ephemeral run's scratch directory (upper/ and work/ of its overlay); the caller removes it. */
export function makeScratch(name: string): string {
  const dir = mkdtempSync(`${SCRATCH_PREFIX}-${name}.`)
  mkdirSync(join(dir, 'upper'), { mode: 0o755 })
  mkdirSync(join(dir, 'work'), { mode: 0o700 })
  return dir
}

export function removeScratch(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

/**
 * Runs `read` on the tree as the host can see it before the container
 * starts: the directory itself, or a raw image's root file system mounted
 * read-only for the while in a mount namespace of its own.
 */
export async function withTree<T>(root: ContainerRoot, probeDir: string, read: (tree: string) => T): Promise<T> {
  const setup = root.setup
  if (setup.kind === 'directory') return read(setup.path)
  return withMounted(setup.image, { offset: setup.offset, size: setup.size, type: setup.fsType }, probeDir, async (tree) => read(tree))
}
