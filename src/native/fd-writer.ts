/**
 * Writing to a Unix socket through the addon's sendFds() (sendmsg(2) with
 * SCM_RIGHTS, never blocking): the one way machined-ts sends fds, for the
 * D-Bus connection (src/native/fd-socket.ts) and for the Varlink replies
 * that carry fds (src/backends/native.ts).
 *
 * Chunks go out in order. A chunk's fds ride on the first byte the kernel
 * takes of it, exactly once: after a partial write the rest follows
 * without them, and a write the kernel refuses whole (EAGAIN) keeps them
 * for the next try. When the socket is full, the writer waits until the
 * kernel says it is writable again (EPOLLOUT, through a poll set of the
 * addon) rather than trying again on a timer; a peer that takes no byte
 * for `stallTimeoutMs` fails the writer (ETIMEDOUT), so a client that
 * never reads cannot hold us, or the fds we were to pass it, for ever.
 * @module
 */

import { loadAddon } from './addon.ts'
import { pollSetOpen, type PollSet } from './poll-set.ts'

/** How long a peer may take no byte while we have some for it (sd-bus's method call timeout is 25 s). */
const WRITE_STALL_TIMEOUT_MS = 30_000

interface Addon {
  sendFds(fd: number, data: Buffer, fds: readonly number[]): number
}

interface Chunk {
  readonly data: Buffer
  offset: number
  /** Until the first byte is sent; none after. */
  fds: readonly number[]
  readonly done: ((err?: Error) => void) | undefined
}

/** A Node-style system error, as the addon throws them. */
function systemError(code: string, errno: number, syscall: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${syscall}: ${message}`), { code, errno: -errno, syscall })
}

export interface FdWriterOptions {
  /** See WRITE_STALL_TIMEOUT_MS. */
  readonly stallTimeoutMs?: number
  /** Called once when a write fails (the peer is gone, or stalled); the writer takes nothing after. */
  readonly onError?: (err: Error) => void
}

/** Writes to a socket fd it does not own: whoever opened the fd closes it, after close(). */
export class FdWriter {
  readonly #fd: number
  readonly #stallTimeoutMs: number
  readonly #onError: ((err: Error) => void) | undefined
  readonly #queue: Chunk[] = []
  #pending = 0
  /** The EPOLLOUT watch, opened on the first EAGAIN and kept for the next. */
  #watch: PollSet | undefined
  #waiting = false
  #stall: NodeJS.Timeout | undefined
  #pumping = false
  #ended: Error | undefined

  constructor(fd: number, options: FdWriterOptions = {}) {
    this.#fd = fd
    this.#stallTimeoutMs = options.stallTimeoutMs ?? WRITE_STALL_TIMEOUT_MS
    this.#onError = options.onError
  }

  /** Bytes queued and not yet with the kernel. */
  get pendingBytes(): number {
    return this.#pending
  }

  /** Whether the writer is waiting for the socket to become writable. */
  get waiting(): boolean {
    return this.#waiting
  }

  /**
   * Queues `data`, `fds` attached to its first byte (they stay the
   * caller's: close them once `done` is called). `done` gets no error
   * once all of it is with the kernel, or the error that ended the writer.
   */
  write(data: Buffer, fds: readonly number[] = [], done?: (err?: Error) => void): void {
    if (this.#ended !== undefined) {
      done?.(this.#ended)
      return
    }
    if (data.length === 0) {
      if (fds.length > 0) throw new RangeError('fds need at least one byte to travel with')
      done?.()
      return
    }
    this.#queue.push({ data, offset: 0, fds, done })
    this.#pending += data.length
    this.#pump()
  }

  /** Stops: what is queued is dropped, its `done` called with `err` (default: the writer is closed). */
  close(err: Error = systemError('EPIPE', 32, 'sendmsg', 'the writer is closed')): void {
    this.#end(err, false)
  }

  #pump(): void {
    // A done callback may write again: the loop that runs takes it up.
    if (this.#pumping || this.#waiting) return
    this.#pumping = true
    try {
      const addon = loadAddon<Addon>()
      for (let head = this.#queue[0]; head !== undefined && this.#ended === undefined; head = this.#queue[0]) {
        let sent: number
        try {
          sent = addon.sendFds(this.#fd, head.offset === 0 ? head.data : head.data.subarray(head.offset), head.fds)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') this.#waitWritable()
          else this.#end(err as Error)
          return
        }
        // The fds went with the first byte.
        if (sent > 0) head.fds = []
        head.offset += sent
        this.#pending -= sent
        if (head.offset === head.data.length) {
          this.#queue.shift()
          head.done?.()
        }
      }
    } finally {
      this.#pumping = false
    }
  }

  #waitWritable(): void {
    const watch = this.#watch ?? (this.#watch = pollSetOpen(() => this.#writable()))
    try {
      // EPOLLOUT, once: the kernel tells us when the peer has made room.
      watch.add(this.#fd, 1, true, true)
    } catch (err) {
      this.#end(err as Error)
      return
    }
    // A write on its way keeps the process alive, as node:net's do.
    watch.ref(true)
    this.#waiting = true
    this.#stall = setTimeout(() => {
      this.#end(systemError('ETIMEDOUT', 110, 'sendmsg', `the peer took nothing for ${this.#stallTimeoutMs / 1000} s`))
    }, this.#stallTimeoutMs)
    this.#stall.unref()
  }

  #writable(): void {
    if (!this.#waiting) return
    this.#stopWaiting()
    this.#pump()
  }

  #stopWaiting(): void {
    this.#waiting = false
    clearTimeout(this.#stall)
    this.#stall = undefined
    if (this.#watch !== undefined) {
      this.#watch.remove(this.#fd)
      this.#watch.ref(false)
    }
  }

  /** Ends the writer; `report`: tell onError (a failure, not the owner's close()). */
  #end(err: Error, report = true): void {
    if (this.#ended !== undefined) return
    this.#ended = err
    if (this.#waiting) this.#stopWaiting()
    this.#watch?.close()
    this.#watch = undefined
    const dropped = this.#queue.splice(0)
    this.#pending = 0
    for (const chunk of dropped) chunk.done?.(err)
    if (report) this.#onError?.(err)
  }
}

/**
 * Sends `data` with `fds` on its first byte over a socket fd we do not
 * own, waiting for writability as needed; resolves once all is with the
 * kernel. `cancel` gets a function that stops the send (the socket is
 * closing): the promise then rejects.
 */
export function sendAllWithFds(fd: number, data: Buffer, fds: readonly number[], cancel?: (stop: () => void) => void): Promise<void> {
  const writer = new FdWriter(fd)
  return new Promise((resolve, reject) => {
    writer.write(data, fds, (err) => {
      writer.close()
      if (err === undefined) resolve()
      else reject(err)
    })
    cancel?.(() => writer.close())
  })
}
