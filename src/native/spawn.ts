/**
 * Starting and reaping a program through the addon (native/addon/spawn.c)
 * rather than node:child_process, for machined-spawn's helper: loading
 * child_process and libuv's fork() of the whole Node process cost its
 * launch path about 9 ms, where posix_spawn() (clone with CLONE_VM |
 * CLONE_VFORK) copies no page tables. The caller owns every fd: it passes
 * the child's, closes its own copies, and reaps the child through a pidfd
 * (src/native/pidfd.ts: pidfdOpen(), pidfdWatch(), then waitPidfd()).
 * @module
 */

import { loadAddon } from './addon.ts'

/** How a reaped child ended. */
export type ChildEnd = { readonly code: number } | { readonly signal: number }

interface Addon {
  pipe(): [number, number]
  spawnProgram(path: string, argv: readonly string[], fds: readonly number[], setsid: boolean): number
  waitPidfd(fd: number): ChildEnd | undefined
}

/** pipe2(2) with O_CLOEXEC: [read end, write end], blocking, ours to close. */
export function pipe(): [readFd: number, writeFd: number] {
  return loadAddon<Addon>().pipe()
}

export interface SpawnOptions {
  /** The program's argv, argv[0] included. */
  readonly argv: readonly string[]
  /** The child's fd i is fds[i] (at most 256); every other fd is closed in it. */
  readonly fds: readonly number[]
  /** setsid(2): a session (and process group) of its own, away from our terminal's signals. */
  readonly newSession?: boolean
}

/**
 * Runs the program at `path` (no PATH search) with our environment, every
 * signal at its default disposition and none blocked, as uv_spawn() does.
 * Returns its PID; throws a Node-style system error (ENOENT, EACCES, EBADF
 * for a closed fd in `fds`) when it could not be started. Reap it with
 * waitPidfd().
 */
export function spawnProgram(path: string, options: SpawnOptions): number {
  return loadAddon<Addon>().spawnProgram(path, options.argv, options.fds, options.newSession === true)
}

/**
 * Reaps the child behind a pidfd (pidfdOpen() of a child of ours) once it
 * has exited, so that no zombie is left: how it ended, or undefined while it
 * still runs.
 */
export function waitPidfd(fd: number): ChildEnd | undefined {
  return loadAddon<Addon>().waitPidfd(fd)
}
