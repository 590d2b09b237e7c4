/**
 * A guest's small files, read inside its root (native/addon/guest_file.c):
 * openat2() with RESOLVE_IN_ROOT resolves the path as the guest sees it,
 * then the file is read, all in one piece of work off the JavaScript
 * thread. Like addon.ts it imports nothing outside src/native.
 * @module
 */

import { loadAddon } from './addon.ts'

interface GuestFileAddon {
  readFileInRoot(root: string, path: string, max: number, callback: (err: NodeJS.ErrnoException | undefined, text: string | null) => void): void
}

/**
 * The text of `path` as the tree at `root` resolves it (absolute symlinks
 * and ".." stay inside `root`; the guest's /proc magic links are refused
 * with ELOOP); undefined when it is no regular file or is larger than
 * `max` bytes. Rejects with a Node-style system error: ENOENT, ENOTDIR,
 * ELOOP and the like, or, with syscall "openat2" and code ENOSYS or EPERM,
 * where openat2() is not available (see openat2Unavailable()).
 */
export function readFileInRoot(root: string, path: string, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    loadAddon<GuestFileAddon>().readFileInRoot(root, path, max, (err, text) => {
      if (err !== undefined) reject(err)
      else resolve(text ?? undefined)
    })
  })
}

/** Whether readFileInRoot() failed because the kernel (ENOSYS) or a seccomp filter (EPERM) refuses openat2() itself. */
export function openat2Unavailable(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException
  return e.syscall === 'openat2' && (e.code === 'ENOSYS' || e.code === 'EPERM')
}
