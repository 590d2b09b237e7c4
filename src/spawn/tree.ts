/**
 * What machined-spawn checks and reads in the container's tree before
 * anything is started, so that bad input fails with one line and leaves
 * nothing behind. Paths inside the tree are resolved as the container will
 * see them: an absolute symlink (/sbin/init -> /lib/systemd/systemd) points
 * into the tree, never at the host.
 * @module
 */

import { lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs'

const MAX_SYMLINKS = 40

/** nspawn's init candidates for --boot, in its order. */
export const INIT_CANDIDATES = ['/usr/lib/systemd/systemd', '/lib/systemd/systemd', '/sbin/init'] as const

/**
 * `path` (absolute, as the container sees it) resolved inside `root`;
 * undefined when some component does not exist or the links go round.
 */
export function resolveInRoot(root: string, path: string): string | undefined {
  const todo = path.split('/').filter((p) => p !== '')
  const done: string[] = []
  let links = 0
  while (todo.length > 0) {
    const part = todo.shift()!
    if (part === '.') continue
    if (part === '..') { done.pop(); continue }
    const host = `${root}/${[...done, part].join('/')}`
    let st
    try { st = lstatSync(host) } catch { return undefined }
    if (!st.isSymbolicLink()) { done.push(part); continue }
    if (++links > MAX_SYMLINKS) return undefined
    const target = readlinkSync(host)
    if (target.startsWith('/')) done.length = 0
    todo.unshift(...target.split('/').filter((p) => p !== ''))
  }
  return `${root}${done.length === 0 ? '' : `/${done.join('/')}`}`
}

/**
 * A regular file with an execute bit, as execve() will find it for root.
 * The mode is looked at rather than access(X_OK), which fails on a noexec
 * mount: a raw image's tree is looked at on one (image-root.ts withTree())
 * before the container mounts it itself.
 */
function isExecutableFile(hostPath: string): boolean {
  const st = statSync(hostPath, { throwIfNoEntry: false })
  return st !== undefined && st.isFile() && (st.mode & 0o111) !== 0
}

/** The tree's init for --boot (a container path), or a one-line Error naming what was looked for. */
export function findInit(root: string, directory: string): string {
  for (const candidate of INIT_CANDIDATES) {
    const host = resolveInRoot(root, candidate)
    if (host !== undefined && isExecutableFile(host)) return candidate
  }
  throw new Error(`Directory ${directory} has no init to boot (looked for ${INIT_CANDIDATES.join(', ')})`)
}

/** What to run when no command is given: a shell of the tree's (nspawn runs a login shell). */
export function defaultShell(root: string): string[] {
  for (const shell of ['/bin/bash', '/bin/sh']) {
    const host = resolveInRoot(root, shell)
    if (host !== undefined && isExecutableFile(host)) return [shell, '-l']
  }
  return ['/bin/sh', '-l']
}

/**
 * The payload must exist in the tree: checked up front so that a typo is
 * one line of error before anything starts (the helper would say the same
 * after the container was set up). A bare name is looked up along PID 1's
 * $PATH, as execvp() will.
 */
export function checkCommand(root: string, command: string, path: string): void {
  const candidates = command.includes('/') ? [command.startsWith('/') ? command : `/${command}`] : path.split(':').filter((d) => d.startsWith('/')).map((d) => `${d}/${command}`)
  for (const c of candidates) {
    const host = resolveInRoot(root, c)
    if (host !== undefined && isExecutableFile(host)) return
  }
  throw new Error(`Failed to execute ${command}: No such file or directory`)
}

/** The tree's /etc/machine-id, or undefined when it has none. */
export function readMachineId(root: string): string | undefined {
  const host = resolveInRoot(root, '/etc/machine-id')
  if (host === undefined) return undefined
  try {
    return readFileSync(host, 'utf8')
  } catch {
    return undefined
  }
}

export function describeErrno(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  const texts: Record<string, string> = {
    ENOENT: 'No such file or directory', EACCES: 'Permission denied', ENOTDIR: 'Not a directory', ELOOP: 'Too many levels of symbolic links',
  }
  return (e.code !== undefined ? texts[e.code] : undefined) ?? e.message
}
