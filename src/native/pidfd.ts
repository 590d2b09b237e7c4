/**
 * pidfds, for the daemon (src/backends/native.ts) and machined-spawn
 * (src/spawn/) alike: open one, signal through it, and learn of
 * its process's exit. A single watch is a poll set of its own (native
 * pollSetOpen(), the epoll set behind one uv_poll that the daemon keeps
 * for all leaders in src/backends/fd-poller.ts) holding just this pidfd.
 * @module
 */

import { loadAddon } from './addon.ts'
import { pollSetOpen, type PollSet } from './poll-set.ts'

/** Stops a pidfdWatch; safe to call more than once. */
export interface PidfdWatch {
  close(): void
}

interface Addon {
  pidfdOpen(pid: number): number
  pidfdSendSignal(fd: number, signal: number): void
  pidfdHasExited(fd: number): boolean
  pidfdOpenOrErrno(pid: number): number
  fdInode(fd: number): number
}

/** pidfd_open(2): an fd that keeps naming this process even after its PID is reused. Throws ESRCH when it is gone. */
export function pidfdOpen(pid: number): number {
  return loadAddon<Addon>().pidfdOpen(pid)
}

/** pidfdOpen() without throwing: the fd, or a negative errno (-ESRCH: no such process), which costs no Error. */
export function pidfdOpenOrErrno(pid: number): number {
  return loadAddon<Addon>().pidfdOpenOrErrno(pid)
}

/** fstat(2)'s inode number of an fd; -1 when it is beyond what a number holds exactly (2^53). */
export function fdInode(fd: number): number {
  return loadAddon<Addon>().fdInode(fd)
}

/** pidfd_send_signal(2): signals exactly the process the pidfd was opened for. */
export function pidfdSendSignal(fd: number, signal: number): void {
  loadAddon<Addon>().pidfdSendSignal(fd, signal)
}

/** Whether the pidfd's process has exited (a zombie has): poll(2) says the pidfd is readable, no /proc read. */
export function pidfdHasExited(fd: number): boolean {
  return loadAddon<Addon>().pidfdHasExited(fd)
}

/**
 * Calls back once when the process behind the pidfd has exited (the
 * kernel makes the pidfd readable then). The watch does not own the fd:
 * close both when done. It keeps the event loop alive only with
 * `keepAlive` (a child we must reap, as a ChildProcess would).
 */
export function pidfdWatch(fd: number, callback: () => void, keepAlive = false): PidfdWatch {
  let set: PollSet | undefined
  const close = (): void => {
    set?.close()
    set = undefined
  }
  set = pollSetOpen(() => {
    if (set === undefined) return
    close()
    callback()
  })
  try {
    set.add(fd, 1, true)
    if (keepAlive) set.ref(true)
  } catch (err) {
    close()
    throw err
  }
  return { close }
}
