/**
 * A connected Unix stream socket that passes fds both ways, on the
 * project's own addon: bytes and fds are read with receiveFdsInto()
 * (recvmsg(2) with SCM_RIGHTS) when a poll set of the addon reports the
 * socket readable, and written through FdWriter (src/native/fd-writer.ts),
 * which waits for writability when the socket is full. node:net cannot
 * do this: libuv reads a Unix stream with read(2), and the kernel closes
 * whatever fds came along.
 *
 * The D-Bus connection (src/wire/dbus/connection.ts) runs on it when fd
 * passing is negotiated, and the SDK's Varlink client
 * (src/client/varlink-connection.ts) always.
 *
 * fds read are handed to the data handler with the bytes they came with
 * and are its to close. The kernel hands fds out with the read that holds
 * the first byte they were sent with, and ends that read no later than
 * the end of that send.
 * @module
 */

import { closeSync } from 'node:fs'
import { loadAddon } from './addon.ts'
import { FdWriter, type FdWriterOptions } from './fd-writer.ts'
import { pollSetOpen, type PollSet } from './poll-set.ts'

interface Addon {
  unixConnect(path: Buffer): number
  /** Reads into `into`; the count of fds received goes to fds[0], the fds after it. */
  receiveFdsInto(fd: number, into: Buffer, fds: Int32Array): number
}

/** One read takes at most this much. */
const RECEIVE_MAX_BYTES = 65536
/** SCM_MAX_FD, the most fds one read hands out, and the count in front of them. */
const RECEIVE_FDS_SLOTS = 253 + 1

/**
 * Where every socket reads into, before what was read is copied out for its
 * handler: reads are synchronous and done before the handler runs, so one
 * scratch area serves all. A small copy from Node's buffer pool costs less
 * than an external Buffer per read (malloc, and the garbage collector's
 * finalising).
 */
let scratch: { readonly data: Buffer; readonly fds: Int32Array } | undefined
/** Reads per readiness report, so one busy socket cannot hold the event loop; the poll set reports again while data waits. */
const READS_PER_TURN = 16

export interface FdSocketHandlers {
  /** Bytes read, and the fds that came with them (the handler's to close). */
  readonly data: (data: Buffer, fds: number[]) => void
  /** The peer closed its end. */
  readonly end: () => void
  /** Reading or writing failed; the socket reads no more. */
  readonly error: (err: Error) => void
}

export class FdSocket {
  readonly #fd: number
  readonly #writer: FdWriter
  #reader: PollSet | undefined
  #handlers: FdSocketHandlers | undefined
  #paused = false
  #destroyed = false

  /** Adopts a connected Unix stream socket: the fd is the socket's from then on (destroy() closes it). */
  constructor(fd: number, options: Pick<FdWriterOptions, 'stallTimeoutMs'> = {}) {
    this.#fd = fd
    this.#writer = new FdWriter(fd, { ...options, onError: (err) => this.#fail(err) })
  }

  /**
   * Connects to a Unix socket path (a leading NUL names an abstract
   * socket). A Unix connect() completes at once or fails: throws
   * Node-style system errors (ENOENT, ECONNREFUSED, EAGAIN for a full
   * backlog), as node:net reports them.
   */
  static connect(path: string, options: Pick<FdWriterOptions, 'stallTimeoutMs'> = {}): FdSocket {
    return new FdSocket(loadAddon<Addon>().unixConnect(Buffer.from(path, 'utf8')), options)
  }

  get destroyed(): boolean {
    return this.#destroyed
  }

  /**
   * Where what is read goes from now on; reading starts with the first
   * call. An open socket keeps the event loop alive, as node:net's do.
   */
  listen(handlers: FdSocketHandlers): void {
    if (this.#destroyed) return
    this.#handlers = handlers
    if (this.#reader !== undefined) return
    this.#reader = pollSetOpen(() => this.#readable())
    this.#reader.ref(true)
    if (!this.#paused) this.#reader.add(this.#fd, 1, false, false)
  }

  /** Reads nothing until resume(): what arrives waits in the kernel (a handshake is done, its successor not yet listening). */
  pause(): void {
    if (this.#paused) return
    this.#paused = true
    this.#reader?.remove(this.#fd)
  }

  resume(): void {
    if (!this.#paused) return
    this.#paused = false
    this.#reader?.add(this.#fd, 1, false, false)
  }

  /** Queues `data` with `fds` on its first byte (see FdWriter.write); `done` once all is sent, or with the error. */
  write(data: Buffer, fds: readonly number[] = [], done?: (err?: Error) => void): void {
    this.#writer.write(data, fds, done)
  }

  /** Closes the socket at once; what is not written yet is dropped. */
  destroy(): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.#stopReading()
    this.#writer.close()
    closeSync(this.#fd)
  }

  #readable(): void {
    const addon = loadAddon<Addon>()
    const into = scratch ??= { data: Buffer.allocUnsafeSlow(RECEIVE_MAX_BYTES), fds: new Int32Array(RECEIVE_FDS_SLOTS) }
    for (let i = 0; i < READS_PER_TURN && this.#reader !== undefined && !this.#paused; i++) {
      let n: number
      try {
        n = addon.receiveFdsInto(this.#fd, into.data, into.fds)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') this.#fail(err as Error)
        return
      }
      if (n === 0) {
        this.#stopReading()
        this.#handlers?.end()
        return
      }
      const data = Buffer.allocUnsafe(n)
      into.data.copy(data, 0, 0, n)
      const fdCount = into.fds[0]!
      const fds = fdCount === 0 ? [] : Array.from(into.fds.subarray(1, 1 + fdCount))
      this.#handlers?.data(data, fds)
      // A short read has most likely emptied the socket; if not, the poll set reports again.
      if (n < RECEIVE_MAX_BYTES && fds.length === 0) return
    }
  }

  #stopReading(): void {
    this.#reader?.close()
    this.#reader = undefined
  }

  #fail(err: Error): void {
    if (this.#destroyed) return
    this.#stopReading()
    this.#handlers?.error(err)
  }
}
