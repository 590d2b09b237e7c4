/**
 * Cloning an image into the pool (systemd's image_clone(), with
 * btrfs_subvol_snapshot()'s fallbacks): a btrfs snapshot when the image
 * is a subvolume on the pool's btrfs; otherwise a copy by GNU cp
 * (`cp -a --reflink=auto`: reflinks where the file system shares blocks,
 * else a full copy keeping owners, modes, times, ACLs and other xattrs,
 * device nodes, sockets, FIFOs and hard links; docs/decisions/007-clone-with-cp.md
 * says why cp), into a fresh subvolume when the pool is on btrfs. Raw
 * images are copied as files (reflinked, holes kept). The copy is built
 * under a temporary name (".#NAME", which is no valid image name, so no
 * listing ever shows it half done) and published by a rename that never
 * replaces anything; a failed clone leaves nothing behind.
 * @module
 */

import { spawn } from 'node:child_process'
import { constants } from 'node:fs'
import { chmod, lstat, mkdir, open, rename, rmdir } from 'node:fs/promises'
import { join } from 'node:path'
import { errnoError, errnoFailure, errnoOfMessage } from '../protocol/errno.ts'
import type { Image } from '../core/ports.ts'
import { btrfsSetReadOnly, FS_IMMUTABLE_FL, setFileAttributes } from '../native/images.ts'
import { createSubvolume, onBtrfs, snapshotSubvolume } from './btrfs.ts'
import { renameNoReplace } from './image-aux.ts'

/**
 * Runs a tool as a child process; a failure says what the tool said last,
 * as the errno that text names when it ends in one (so ENOSPC reaches the
 * caller as systemd would report it).
 */
export function runTool(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-4096) })
    child.once('error', (err) => reject(errnoError('EIO', `${command}: ${err.message}`)))
    child.once('close', (code, signal) => {
      if (code === 0) resolve()
      else {
        const said = stderr.trim().split('\n').at(-1) ?? `${command} failed (${code ?? signal})`
        const errno = errnoOfMessage(said)
        reject(errno === undefined ? errnoError('EIO', said) : errnoFailure(errno, said))
      }
    })
  })
}

/** rm -rf, staying on the file system it starts on (rm_rf() stops at mount points too). */
export async function removeTree(path: string): Promise<void> {
  await openAndSet(path, 0).catch(() => undefined)
  await runTool('rm', ['-rf', '--one-file-system', '--', path])
}

/** chattr on a directory: the immutable flag set (FS_IMMUTABLE_FL) or cleared (0). */
export async function openAndSet(path: string, flags: number): Promise<number> {
  const file = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOCTTY)
  try {
    return setFileAttributes(file.fd, flags, FS_IMMUTABLE_FL)
  } finally {
    await file.close()
  }
}

async function setSubvolumeReadOnly(path: string): Promise<void> {
  const file = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOCTTY)
  try {
    btrfsSetReadOnly(file.fd, true)
  } finally {
    await file.close()
  }
}

/** The tree at `source` as a new tree at `temp`: snapshot, else a copy (into a subvolume on btrfs). */
async function copyTree(image: Image, temp: string, readOnly: boolean, poolOnBtrfs: boolean): Promise<'snapshot' | 'subvolume' | 'directory'> {
  if (image.type === 'subvolume' && poolOnBtrfs) {
    // A snapshot across file systems fails (EXDEV): copy then.
    if (await snapshotSubvolume(image.path, temp, readOnly).then(() => true, () => false)) return 'snapshot'
  }
  if (poolOnBtrfs) {
    await createSubvolume(temp)
    await runTool('cp', ['-a', '--reflink=auto', '--', `${image.path}/.`, `${temp}/`])
    if (readOnly) await setSubvolumeReadOnly(temp)
    return 'subvolume'
  }
  await runTool('cp', ['-a', '--reflink=auto', '--', image.path, temp])
  return 'directory'
}

/**
 * Moves a finished tree to its name; fails with EEXIST rather than replace
 * a directory someone made meanwhile (rename_noreplace() for directories).
 * Whatever makes an image in the pool (clones, and imports later) builds it
 * under a temporary name and publishes it with this.
 */
export async function publishTree(temp: string, target: string): Promise<void> {
  await mkdir(target)
  try {
    await rename(temp, target)
  } catch (err) {
    await rmdir(target).catch(() => undefined)
    throw err
  }
}

/** The temporary names a clone of NAME uses in the pool (removed when left over by a daemon that died mid-clone). */
export function cloneTempPath(pool: string, image: Image, newName: string): string {
  return join(pool, image.type === 'raw' ? `.#${newName}.raw` : `.#${newName}`)
}

/** image_clone() for directories, subvolumes and raw images; the caller holds the new name's lock and knows it is free. */
export async function cloneImageFiles(image: Image, newName: string, readOnly: boolean, pool: string): Promise<void> {
  if (image.type === 'block') throw errnoError('EOPNOTSUPP', 'Operation not supported')
  await mkdir(pool, { recursive: true, mode: 0o700 })
  const temp = cloneTempPath(pool, image, newName)
  if (await lstat(temp).then(() => true, () => false)) await removeTree(temp)
  try {
    if (image.type === 'raw') {
      await runTool('cp', ['--reflink=auto', '--sparse=auto', '--', image.path, temp])
      await chmod(temp, readOnly ? 0o444 : 0o644)
      await renameNoReplace(temp, join(pool, `${newName}.raw`))
      return
    }
    const made = await copyTree(image, temp, readOnly, await onBtrfs(pool))
    const target = join(pool, newName)
    await publishTree(temp, target)
    // Set only now: an immutable directory cannot be renamed.
    if (readOnly && made === 'directory') await openAndSet(target, FS_IMMUTABLE_FL)
  } catch (err) {
    await removeTree(temp).catch(() => undefined)
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST' || code === 'ENOTEMPTY') throw errnoError('EEXIST', 'File exists')
    throw err
  }
}
