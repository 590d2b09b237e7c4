/**
 * Many fds behind one epoll set and one uv_poll (native pollSetOpen()),
 * instead of a uv_poll, an N-API callback and an async context per fd:
 * with 10,000 machines that was about 14 MiB for the leaders' pidfds
 * alone. The set is opened by the first add() and kept until dispose():
 * opening it (an epoll fd, a uv_poll and its N-API callback) for every
 * machine that comes and goes would slow Register+Unregister down.
 * @module
 */

import type { Disposable } from '../core/ports.ts'
import { pollSetOpen, type NativePollSet } from './native.ts'

/** What add() calls: a function, or an object whose pollReady() is called (no closure per fd: 10,000 of them add up). */
export type PollCallback = (() => void) | { pollReady(): void }

/**
 * An owner of one fd that is its own entry in the set, reported once
 * (addOnce()): no Registration object beside it (a leader's pidfd handle;
 * 10,000 of them add up).
 */
export interface PollTarget {
  /** The fd added, until the target has been removed. */
  readonly pollFd: number
  pollReady(): void
}

/** One fd in the set; it is its own Disposable (a class, not a closure per fd: 10,000 of them add up). */
class Registration implements Disposable {
  readonly poller: FdPoller
  readonly token: number
  readonly fd: number
  readonly once: boolean
  readonly callback: PollCallback

  constructor(poller: FdPoller, token: number, fd: number, once: boolean, callback: PollCallback) {
    this.poller = poller
    this.token = token
    this.fd = fd
    this.once = once
    this.callback = callback
  }

  dispose(): void {
    this.poller.remove(this.token)
  }
}

export class FdPoller {
  readonly #entries = new Map<number, Registration | PollTarget>()
  #set: NativePollSet | undefined
  #lastToken = 0

  /**
   * Calls `callback` when `fd` becomes readable: one time if `once` (the
   * fd then leaves the set), else every time the loop finds it readable,
   * so the callback must drain it. Dispose before closing the fd. Throws
   * a system error when the set cannot be opened or the fd added.
   */
  add(fd: number, once: boolean, callback: PollCallback): Disposable {
    const token = this.#add(fd, once)
    const registration = new Registration(this, token, fd, once, callback)
    this.#entries.set(token, registration)
    return registration
  }

  /**
   * Calls `target.pollReady()` one time, when `target.pollFd` becomes
   * readable (the fd then leaves the set). Returns the token that
   * remove() takes; remove it before closing the fd. Throws as add() does.
   */
  addOnce(target: PollTarget): number {
    const token = this.#add(target.pollFd, true)
    this.#entries.set(token, target)
    return token
  }

  #add(fd: number, once: boolean): number {
    const set = this.#set ?? (this.#set = pollSetOpen((tokens) => this.#ready(tokens)))
    let token = this.#lastToken
    do token = (token + 1) >>> 0 || 1; while (this.#entries.has(token))
    set.add(fd, token, once)
    this.#lastToken = token
    return token
  }

  get size(): number {
    return this.#entries.size
  }

  #ready(tokens: number[]): void {
    for (const token of tokens) {
      const entry = this.#entries.get(token)
      // Removed by an earlier callback of the same batch.
      if (entry === undefined) continue
      if (!(entry instanceof Registration)) {
        this.remove(token)
        entry.pollReady()
        continue
      }
      if (entry.once) this.remove(token)
      const { callback } = entry
      if (typeof callback === 'function') callback()
      else callback.pollReady()
    }
  }

  /** Takes the fd registered under `token` out of the set (what its Registration's dispose() does). */
  remove(token: number): void {
    const entry = this.#entries.get(token)
    if (entry === undefined) return
    this.#entries.delete(token)
    this.#set?.remove(entry instanceof Registration ? entry.fd : entry.pollFd)
  }

  /** Forgets every fd and closes the set (the fds themselves stay open: they are their owners'). */
  dispose(): void {
    this.#entries.clear()
    this.#set?.close()
    this.#set = undefined
  }
}
