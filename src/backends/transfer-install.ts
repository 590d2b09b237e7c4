/**
 * Putting what a transfer made into the pool (systemd's install_file(),
 * fs_make_very_read_only() and import_mangle_os_tree()): the image is
 * built under a temporary name (tempfn_random(): ".#NAME" and 16 random
 * hex digits, never a valid image name, so no listing shows it half
 * done), synchronised to disk, then renamed to its name, never replacing
 * anything unless asked to (--force), and marked read-only if asked to.
 * @module
 */

import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { chmod, lstat, mkdir, open, readdir, rename, rmdir, stat, unlink, utimes, chown } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { lockImagePath } from '../native/image-lock.ts'
import { btrfsSetReadOnly, FS_IMMUTABLE_FL } from '../native/images.ts'
import { createSubvolume, isSubvolume, onBtrfs } from './btrfs.ts'
import { openAndSet, publishTree, removeTree } from './image-clone.ts'
import { renameNoReplace } from './image-aux.ts'
import type { JobContext } from './transfer-job.ts'
import { runJobTool } from './transfer-process.ts'

/** What tempFor() names look like: ".#", a name, 16 hex digits. */
const TEMP_NAME = /^\.#.+[0-9a-f]{16}$/

/**
 * Removes what transfers of an earlier run left in the pool (a daemon
 * killed mid-transfer cannot clean up): the temporary trees and files
 * only transfers name so. Run at start-up, while no transfer runs; the
 * daemon owns org.freedesktop.import1, so no importd writes there either.
 */
export async function sweepLeftovers(pool: string): Promise<string[]> {
  const names = (await readdir(pool).catch(() => [] as string[])).filter((n) => TEMP_NAME.test(n))
  for (const name of names) await removeTree(join(pool, name)).catch(() => undefined)
  return names
}

/** tempfn_random(): a hidden name next to `path`. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.#${basename(path)}${randomBytes(8).toString('hex')}`)
}

function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  // Node's "EEXIST: file already exists, rename …": the errno's strerror() is what systemd prints.
  const texts: Record<string, string> = {
    EEXIST: 'File exists', ENOTEMPTY: 'Directory not empty', EBUSY: 'Device or resource busy', EPERM: 'Operation not permitted',
    EACCES: 'Permission denied', ENOSPC: 'No space left on device', ENOENT: 'No such file or directory', EROFS: 'Read-only file system',
    ENOTDIR: 'Not a directory', EISDIR: 'Is a directory', EXDEV: 'Invalid cross-device link', EIO: 'Input/output error',
  }
  return (e.code !== undefined ? texts[e.code] : undefined) ?? (err instanceof Error ? err.message : String(err))
}

export { errnoText }

/**
 * A fresh temporary tree for an image that will be `final`: a btrfs
 * subvolume where the pool is on btrfs (btrfs_subvol_make_fallback()),
 * else a directory; removed again unless the job finishes.
 */
export async function makeTempTree(job: JobContext, final: string): Promise<string> {
  const temp = tempPathFor(final)
  await mkdir(dirname(temp), { recursive: true, mode: 0o700 })
  try {
    if (await onBtrfs(dirname(temp))) await createSubvolume(temp)
    else await mkdir(temp, 0o755)
  } catch (err) {
    throw job.fail(`Failed to create directory/subvolume ${temp}: ${errnoText(err)}`)
  }
  job.onFailure(() => removeTree(temp))
  return temp
}

/** path_is_os_tree(): an os-release file in one of its two places. */
async function isOsTree(path: string): Promise<boolean> {
  for (const p of ['etc/os-release', 'usr/lib/os-release']) {
    if (await lstat(join(path, p)).then(() => true, () => false)) return true
  }
  return false
}

/**
 * import_mangle_os_tree(): a tarball whose OS tree sits in a single
 * top-level directory is moved one level up, so the image is the OS.
 */
export async function mangleOsTree(job: JobContext, path: string): Promise<void> {
  if (await isOsTree(path)) return
  const entries = await readdir(path)
  if (entries.length !== 1) return
  const child = join(path, entries[0]!)
  const st = await lstat(child)
  if (!st.isDirectory() || !(await isOsTree(child))) return
  job.info(`Rearranging '${child}', moving OS tree one directory up.`)
  const moved = join(path, `${entries[0]!}${randomBytes(8).toString('hex')}`)
  await renameNoReplace(child, moved).catch(async () => rename(child, moved))
  for (const name of await readdir(moved)) await rename(join(moved, name), join(path, name))
  await rmdir(moved)
  await utimes(path, st.atime, st.mtime).catch(() => undefined)
  await chmod(path, st.mode & 0o7777)
  await chown(path, st.uid, st.gid)
  job.info('Successfully rearranged OS tree.')
}

/** fs_make_very_read_only(): a subvolume read-only, another directory immutable, a file without its w bits. */
export async function makeVeryReadOnly(path: string): Promise<void> {
  const st = await stat(path)
  if (st.isFile()) {
    if ((st.mode & 0o222) !== 0) await chmod(path, st.mode & 0o7555)
    return
  }
  if (await isSubvolume(path)) {
    const file = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOCTTY)
    try {
      btrfsSetReadOnly(file.fd, true)
      return
    } catch {
      // Not a subvolume after all: the immutable flag, as systemd falls back.
    } finally {
      await file.close()
    }
  }
  await openAndSet(path, FS_IMMUTABLE_FL)
}

/** Lets go of whatever keeps an image from being replaced: the immutable flag, a read-only subvolume. */
async function makeWritable(path: string): Promise<void> {
  const st = await lstat(path)
  if (!st.isDirectory()) return
  await openAndSet(path, 0).catch(() => undefined)
  if (await isSubvolume(path)) {
    const file = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOCTTY)
    try { btrfsSetReadOnly(file.fd, false) } catch { /* not a subvolume */ } finally { await file.close() }
  }
}

export interface InstallOptions {
  /** INSTALL_REPLACE (--force): an image of that name goes (unless it is in use). */
  readonly replace: boolean
  /** INSTALL_READ_ONLY (--read-only). */
  readonly readOnly: boolean
}

/**
 * install_file(): syncs `temp` (syncfs for a tree, fsync for a file, as
 * IMPORT_SYNC asks), renames it to `final` without replacing anything
 * (or, with `replace`, after moving the old image aside: it goes once the
 * new one is in place), and marks it read-only. Throws the errno's error.
 */
export async function installImage(job: JobContext, temp: string, final: string, options: InstallOptions): Promise<void> {
  const st = await lstat(temp)
  await runJobTool(job, 'sync', st.isDirectory() ? ['-f', '--', temp] : ['--', temp])
  const old = await lstat(final).then(() => true, () => false)
  if (old && options.replace) {
    // The old image must not be in use (a container running from it holds its lock).
    const lock = await lockImagePath(final, 'exclusive')
    const aside = tempPathFor(final)
    try {
      await makeWritable(final)
      await rename(final, aside)
    } finally {
      await lock.release()
    }
    await rename(temp, final)
    await (st.isDirectory() ? removeTree(aside) : unlink(aside)).catch(() => undefined)
  } else if (st.isDirectory()) {
    await publishTree(temp, final)
  } else {
    await renameNoReplace(temp, final)
  }
  if (options.readOnly) await makeVeryReadOnly(final)
}
