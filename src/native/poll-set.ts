/**
 * The addon's poll set (native/addon/poll_set.c): many fds behind one
 * epoll set and one uv_poll, for every layer that waits on fds: the
 * daemon's leaders and scopes (src/backends/fd-poller.ts), a single pidfd
 * (src/native/pidfd.ts), and sockets that pass fds, readable
 * (src/native/fd-socket.ts) or writable again (src/native/fd-writer.ts).
 * @module
 */

import { loadAddon } from './addon.ts'

/** An open poll set; remove an fd before closing it. */
export interface PollSet {
  /**
   * Reports `fd` under `token` while it is readable (with `writable`:
   * writable; an error or hang-up reports too), or only the next time
   * with `once`.
   */
  add(fd: number, token: number, once: boolean, writable?: boolean): void
  remove(fd: number): void
  /** Whether the set keeps the event loop alive (at first it does not). */
  ref(keep: boolean): void
  close(): void
}

interface Addon {
  pollSetOpen(callback: (tokens: number[]) => void): PollSet
}

/** Opens a poll set: `callback` gets the tokens of the fds that became ready. */
export function pollSetOpen(callback: (tokens: number[]) => void): PollSet {
  return loadAddon<Addon>().pollSetOpen(callback)
}
