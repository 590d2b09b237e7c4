/**
 * A small file of a guest (a machine's /proc/LEADER/root, an image's tree),
 * read as the guest resolves it and only if it is a small regular file.
 * The guest owns every file on the way and may change them at any time.
 * @module
 */

import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import { openat2Unavailable, readFileInRoot } from '../native/guest-file.ts'
import { chaseInRoot } from './chase.ts'

/** systemd's READ_FULL_BYTES_MAX: an os-release (or hostname, machine-info) larger than this is none. */
export const GUEST_FILE_MAX = 4 * 1024 * 1024

/**
 * The text of `path` inside the tree at `root` ("" for the host's own);
 * undefined when it is no regular file or larger than GUEST_FILE_MAX.
 * Throws ENOENT, ENOTDIR, ELOOP and the like. The native reader resolves
 * and reads it in one trip to a libuv thread, openat2() keeping the
 * resolution inside the root; where openat2() is not there (an old kernel,
 * a seccomp filter) chaseInRoot() and readChasedFile() do it instead.
 */
export async function readGuestFileInRoot(root: string, path: string): Promise<string | undefined> {
  try {
    return await readFileInRoot(root === '' ? '/' : root, path, GUEST_FILE_MAX)
  } catch (err) {
    if (!openat2Unavailable(err)) throw err
  }
  return readChasedFile(await chaseInRoot(root, path))
}

/**
 * A small regular file of a guest at a host path chaseInRoot() found:
 * undefined for anything else. The guest may swap it after the chase:
 * never through a symlink (O_NOFOLLOW: an absolute one would resolve
 * against the host's root), never block on a FIFO (O_NONBLOCK; a blocked
 * open holds one of libuv's few threads, and with them every file access
 * of the daemon), never read a device or a file without end (/dev/zero)
 * into memory.
 */
export async function readChasedFile(path: string): Promise<string | undefined> {
  const file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY)
  try {
    const st = await file.stat()
    if (!st.isFile() || st.size > GUEST_FILE_MAX) return undefined
    const chunks: Buffer[] = []
    let length = 0
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024)
      const { bytesRead } = await file.read(chunk, 0, chunk.length, null)
      if (bytesRead === 0) break
      chunks.push(chunk.subarray(0, bytesRead))
      length += bytesRead
      // It grew since the stat.
      if (length > GUEST_FILE_MAX) return undefined
    }
    return Buffer.concat(chunks).toString('utf8')
  } finally {
    await file.close()
  }
}
