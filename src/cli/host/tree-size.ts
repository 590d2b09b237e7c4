/**
 * How many bytes a file or tree holds, for the copy progress bar: regular
 * files' sizes, symlinks never followed. Inside a container the path is
 * taken through /proc/LEADER/root, one component at a time, and given up
 * on at a symlink, whose target would be resolved against the host's root.
 * @module
 */

import { lstat, readdir } from 'node:fs/promises'

/** Enough to size a tree while a copy runs, without walking a whole file system every tick. */
const MAX_ENTRIES = 20_000

/** Sum of regular files' sizes under `path` (0 when it is not there); undefined past MAX_ENTRIES. */
export async function treeSize(path: string): Promise<number | undefined> {
  let total = 0
  let seen = 0
  const stack = [path]
  while (stack.length > 0) {
    const p = stack.pop()!
    if (++seen > MAX_ENTRIES) return undefined
    const st = await lstat(p).catch(() => undefined)
    if (st === undefined) continue
    if (st.isFile()) total += st.size
    else if (st.isDirectory()) {
      const names = await readdir(p).catch(() => [] as string[])
      for (const n of names) stack.push(`${p}/${n}`)
    }
  }
  return total
}

/** The host's view of `path` inside the container led by `leader`; undefined when a component on the way is a symlink. */
export async function guestPath(leader: number, path: string, procRoot = '/proc'): Promise<string | undefined> {
  const parts = path.split('/').filter((c) => c !== '' && c !== '.')
  if (parts.includes('..')) return undefined
  const root = `${procRoot}/${leader}/root`
  let p = root
  for (const [i, c] of parts.entries()) {
    p = `${p}/${c}`
    const st = await lstat(p).catch(() => undefined)
    if (st === undefined) break // not there (yet): nothing below it can be a symlink
    if (st.isSymbolicLink() && i < parts.length - 1) return undefined
  }
  return `${root}/${parts.join('/')}`
}
