/**
 * inotify watches on many files through one inotify fd (native
 * inotify_init1/inotify_add_watch, the fd in an FdPoller), dispatched by
 * watch descriptor, instead of one node:fs FSWatcher (a libuv handle, an
 * EventEmitter and its closures) per file. The fd is opened by the first
 * watch and kept until dispose(): closing an inotify fd waits for an RCU
 * grace period (milliseconds), far too slow to repeat for every machine
 * that comes and goes.
 * @module
 */

import { readSync } from 'node:fs'
import type { Disposable } from '../core/ports.ts'
import { FdPoller } from './fd-poller.ts'
import { closeFd, inotifyAddWatch, inotifyInit, inotifyRmWatch } from './native.ts'

// <sys/inotify.h>
const IN_MODIFY = 0x2
const IN_ATTRIB = 0x4
const IN_MOVE_SELF = 0x800
const IN_DELETE_SELF = 0x400
const IN_IGNORED = 0x8000
const IN_Q_OVERFLOW = 0x4000
/** What Node's fs.watch() asks for on a file, less the directory events. */
const MASK = IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF
/** struct inotify_event without its name: wd, mask, cookie, len. */
const EVENT_HEADER = 16
const READ_SIZE = 64 * 1024

type Callbacks = Array<() => void>

/** One watch; its own Disposable (a class, not a closure per watch: 10,000 of them add up). */
class Watch implements Disposable {
  readonly owner: InotifyWatches
  readonly wd: number
  readonly onChange: () => void

  constructor(owner: InotifyWatches, wd: number, onChange: () => void) {
    this.owner = owner
    this.wd = wd
    this.onChange = onChange
  }

  dispose(): void {
    this.owner.unwatch(this.wd, this.onChange)
  }
}

export class InotifyWatches {
  readonly #poller = new FdPoller()
  /** Watch descriptor → the callbacks of every watch on that file (the kernel gives one wd per inode). */
  readonly #byWd = new Map<number, Callbacks>()
  #fd: number | undefined
  #registration: Disposable | undefined
  #buffer: Buffer | undefined

  /**
   * Calls `onChange` (possibly spuriously) whenever the file changes, and
   * once more when the file is gone (IN_IGNORED: the kernel dropped the
   * watch). Throws a system error: ENOENT for a missing file, ENOSPC when
   * the user's inotify watches have run out, EMFILE without an fd.
   */
  watch(path: string, onChange: () => void): Disposable {
    const wd = inotifyAddWatch(this.#open(), path, MASK)
    const callbacks = this.#byWd.get(wd)
    // Usually one watch per file: an array of exactly that size.
    this.#byWd.set(wd, callbacks === undefined ? [onChange] : [...callbacks, onChange])
    return new Watch(this, wd, onChange)
  }

  #open(): number {
    if (this.#fd !== undefined) return this.#fd
    const fd = inotifyInit()
    try {
      this.#registration = this.#poller.add(fd, false, () => this.#drain())
    } catch (err) {
      closeFd(fd)
      throw err
    }
    this.#fd = fd
    return fd
  }

  /** Ends one watch (what its dispose() does); the kernel's watch goes with the file's last one. */
  unwatch(wd: number, onChange: () => void): void {
    const callbacks = this.#byWd.get(wd)
    const i = callbacks?.indexOf(onChange) ?? -1
    if (callbacks === undefined || i < 0) return
    if (callbacks.length > 1) {
      this.#byWd.set(wd, callbacks.filter((_, j) => j !== i))
      return
    }
    this.#byWd.delete(wd)
    try {
      if (this.#fd !== undefined) inotifyRmWatch(this.#fd, wd)
    } catch {
      // EINVAL: the kernel dropped it already (the file is gone); its IN_IGNORED finds no callbacks.
    }
  }

  #drain(): void {
    const fd = this.#fd
    if (fd === undefined) return
    const buffer = this.#buffer ?? (this.#buffer = Buffer.allocUnsafe(READ_SIZE))
    const changed = new Set<number>()
    const gone: Callbacks = []
    let overflow = false
    // Read everything first: a callback may drop the last watch, which closes the fd.
    for (;;) {
      let n: number
      try {
        n = readSync(fd, buffer, 0, buffer.length, null)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break
        throw err
      }
      for (let at = 0; at + EVENT_HEADER <= n; at += EVENT_HEADER + buffer.readUInt32LE(at + 12)) {
        const wd = buffer.readInt32LE(at)
        const mask = buffer.readUInt32LE(at + 4)
        if ((mask & IN_Q_OVERFLOW) !== 0) overflow = true
        else if ((mask & IN_IGNORED) !== 0) {
          // The kernel has removed this watch (the file is gone, or we removed it): call back once more, then forget it.
          gone.push(...(this.#byWd.get(wd) ?? []))
          this.#byWd.delete(wd)
        } else changed.add(wd)
      }
    }
    // Events were lost: every watcher looks again.
    const wds = overflow ? [...this.#byWd.keys()] : [...changed]
    const calls = [...gone, ...wds.flatMap((wd) => this.#byWd.get(wd) ?? [])]
    for (const cb of calls) cb()
  }

  /** Drops every watch and closes the fd. */
  dispose(): void {
    this.#byWd.clear()
    if (this.#fd === undefined) return
    this.#registration?.dispose()
    this.#registration = undefined
    this.#poller.dispose()
    closeFd(this.#fd)
    this.#fd = undefined
  }
}
