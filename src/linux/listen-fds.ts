/**
 * Socket activation (sd_listen_fds(3)): the sockets the service manager
 * opened for us, passed from fd 3 on, with $LISTEN_FDS saying how many,
 * $LISTEN_PID that they are ours (not a parent's that forgot to clear the
 * variables) and $LISTEN_FDNAMES their names (FileDescriptorName= in the
 * socket unit; "unknown" when the unit names none). Like sd_listen_fds(1)
 * we clear the variables and make the fds close-on-exec, so no child
 * inherits them.
 * @module
 */

import { fdSetCloexec } from '../native/service.ts'

/** SD_LISTEN_FDS_START: the first passed fd. */
export const LISTEN_FDS_START = 3

export interface ListenFd {
  readonly fd: number
  /** Its FileDescriptorName=, or "unknown" (what systemd passes for a socket without one). */
  readonly name: string
}

/** The passed fds as the variables describe them, or an empty list when they are not meant for `pid`. Pure: no fd is touched. */
export function parseListenFds(env: NodeJS.ProcessEnv, pid: number): ListenFd[] {
  if (env.LISTEN_PID === undefined || env.LISTEN_PID !== String(pid)) return []
  const count = /^\d+$/.test(env.LISTEN_FDS ?? '') ? Number(env.LISTEN_FDS) : 0
  // More than a few thousand fds is no socket unit's doing: refuse rather than walk them.
  if (!Number.isSafeInteger(count) || count <= 0 || count > 4096) return []
  const names = env.LISTEN_FDNAMES === undefined ? [] : env.LISTEN_FDNAMES.split(':')
  return Array.from({ length: count }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: names[i] !== undefined && names[i] !== '' ? names[i] : 'unknown' }))
}

/**
 * Takes over the passed fds: parses the variables, removes them from the
 * environment, and makes each fd close-on-exec.
 */
export function takeListenFds(env: NodeJS.ProcessEnv = process.env): ListenFd[] {
  const fds = parseListenFds(env, process.pid)
  delete env.LISTEN_PID
  delete env.LISTEN_FDS
  delete env.LISTEN_FDNAMES
  for (const { fd } of fds) fdSetCloexec(fd)
  return fds
}
