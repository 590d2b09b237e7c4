/**
 * The native calls the web console uses, from the package's N-API module
 * (native/machined_native.c): one epoll set for every open terminal's pty
 * master, and TIOCSWINSZ. Each layer declares its own typed view of the
 * module (src/native/addon.ts says why).
 * @module
 */

import { loadAddon } from '../native/addon.ts'

/** An epoll set behind one uv_poll; an fd must be removed before it is closed. */
export interface NativePollSet {
  add(fd: number, token: number, once: boolean): void
  remove(fd: number): void
  close(): void
}

interface Addon {
  pollSetOpen(callback: (tokens: number[]) => void): NativePollSet
  ptySetWindowSize(fd: number, columns: number, rows: number): void
}

export function pollSetOpen(callback: (tokens: number[]) => void): NativePollSet {
  return loadAddon<Addon>().pollSetOpen(callback)
}

export function ptySetWindowSize(fd: number, columns: number, rows: number): void {
  loadAddon<Addon>().ptySetWindowSize(fd, columns, rows)
}
