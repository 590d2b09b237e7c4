/**
 * Resolves a path inside another root (a machine's /proc/<leader>/root)
 * the way the machine itself would see it: absolute symlinks restart at
 * that root and ".." never climbs above it, like chase(CHASE_PREFIX_ROOT).
 * @module
 */

import { lstat, readlink } from 'node:fs/promises'

const MAX_SYMLINKS = 32

export class ChaseError extends Error {
  readonly errno: 'ENOENT' | 'ELOOP' | 'ENOTDIR'
  constructor(errno: 'ENOENT' | 'ELOOP' | 'ENOTDIR', path: string) {
    super(`${errno}: ${path}`)
    this.errno = errno
  }
}

/** Returns the host path of `path` as seen inside `root`; throws ChaseError. */
export async function chaseInRoot(root: string, path: string): Promise<string> {
  let todo = path.split('/').filter((p) => p !== '' && p !== '.')
  const done: string[] = []
  let links = 0
  while (todo.length > 0) {
    const part = todo.shift()!
    if (part === '..') {
      done.pop()
      continue
    }
    const candidate = `${root}/${[...done, part].join('/')}`
    let st
    try {
      st = await lstat(candidate)
    } catch {
      throw new ChaseError('ENOENT', path)
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw new ChaseError('ELOOP', path)
      const target = await readlink(candidate)
      const parts = target.split('/').filter((p) => p !== '' && p !== '.')
      if (target.startsWith('/')) done.length = 0
      todo = [...parts, ...todo]
      continue
    }
    if (todo.length > 0 && !st.isDirectory()) throw new ChaseError('ENOTDIR', path)
    done.push(part)
  }
  return `${root}/${done.join('/')}`
}
