/**
 * One accepted Varlink connection. Calls are answered strictly one after
 * another, in the order they arrived, however many a client pipelines: as
 * in sd-varlink, which takes up the next message only once the current
 * one is answered. Reading pauses while too many unanswered calls (or
 * bytes) are queued, and while the client does not read its replies, so
 * a peer can make us hold at most about one message limit of input and of
 * output. Protocol violations close the connection without a reply, as
 * systemd's server does; a message over the size limit gets an ENOBUFS
 * error first, so the client learns why.
 * @module
 */

import { closeSync } from 'node:fs'
import type { Socket } from 'node:net'
import type { Log } from '../../core/ports.ts'
import { systemError, type VarlinkError } from './errors.ts'
import { FrameDecoder, type Frame } from '../../wire/varlink/framing.ts'
import { encodeMessage, parseCall, type IncomingCall } from './message.ts'

/** How long a closing connection may take to hand its last replies to the client. */
const SHUTDOWN_GRACE_MS = 5000

export interface PeerCredentials {
  readonly uid: number
  readonly gid: number
  readonly pid: number
}

export interface ConnectionLimits {
  /** Largest message (bytes before the NUL) read or written. */
  readonly maxMessageSize: number
  /** Calls read but not yet answered before reading pauses. */
  readonly maxQueuedCalls: number
}

/**
 * Sends all of `data` with `fds` attached to its first byte on the socket
 * (node:net cannot pass fds), once node:net has nothing of its own left
 * to write there; resolves once all is with the kernel, rejects when the
 * socket closes first or the client stops reading. The fds stay the
 * caller's.
 */
export type FdSender = (socket: Socket, data: Buffer, fds: readonly number[]) => Promise<void>

/** Closes fds a reply was to pass (errors ignored: they are gone either way). */
export function closeFds(fds: readonly number[]): void {
  for (const fd of new Set(fds)) {
    try { closeSync(fd) } catch { /* already closed */ }
  }
}

/** Where a call's replies go; every method is a no-op for oneway calls. */
export interface ReplyChannel {
  /** A reply with continues: true. */
  notify(parameters: Record<string, unknown>): void
  /** The final reply; `fds` (ours) go with it and are closed once sent. */
  reply(parameters: Record<string, unknown>, fds?: readonly number[]): void
  error(error: VarlinkError): void
}

export type Dispatch = (call: IncomingCall, out: ReplyChannel, peer: PeerCredentials) => Promise<void>

export interface ConnectionOptions {
  readonly socket: Socket
  readonly peer: PeerCredentials
  readonly limits: ConnectionLimits
  readonly dispatch: Dispatch
  readonly log: Log
  readonly fdSender?: FdSender | undefined
}

/** The usual reply to Register, Unregister, Kill, …: its bytes (and their NUL) are always the same, so #write() takes them made once. */
const EMPTY_REPLY = { parameters: {} }
/** Never written to, so one copy serves every connection. */
const EMPTY_REPLY_BYTES = encodeMessage(EMPTY_REPLY)

/** A plain object without fields: what JSON.stringify() writes as `{}`. */
function isEmptyRecord(value: Record<string, unknown>): boolean {
  if (Object.getPrototypeOf(value) !== Object.prototype) return false
  for (const _ in value) return false
  return true
}

export class VarlinkConnection {
  readonly peer: PeerCredentials
  readonly #socket: Socket
  readonly #limits: ConnectionLimits
  readonly #dispatch: Dispatch
  readonly #log: Log
  readonly #decoder: FrameDecoder
  readonly #queue: Frame[] = []
  #queuedBytes = 0
  #busy = false
  #paused = false
  #readEnded = false
  /** No more calls will be taken: the connection is being shut down. */
  #closing = false
  readonly #fdSender: FdSender | undefined
  /** A reply with fds on its way: later replies wait for it. */
  #fdWrite: Promise<void> | undefined
  /** Replies are held for one writev until the next tick (#corkForTurn). */
  #corked = false

  constructor(options: ConnectionOptions) {
    this.peer = options.peer
    this.#socket = options.socket
    this.#limits = options.limits
    this.#dispatch = options.dispatch
    this.#log = options.log
    this.#fdSender = options.fdSender
    this.#decoder = new FrameDecoder(options.limits.maxMessageSize)
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    this.#socket.on('end', () => this.#onEnd())
    this.#socket.on('error', (err) => this.#log.debug('Varlink connection failed', { pid: this.peer.pid, error: err.message }))
  }

  /** Ends the connection at once (the server is stopping). */
  destroy(): void {
    this.#closing = true
    this.#socket.destroy()
  }

  #onData(chunk: Buffer): void {
    if (this.#closing) return
    for (const frame of this.#decoder.push(chunk)) {
      this.#queue.push(frame)
      if (frame.kind === 'message') this.#queuedBytes += frame.bytes.length
      else this.#stopReading()
    }
    if (this.#queue.length >= this.#limits.maxQueuedCalls || this.#queuedBytes > this.#limits.maxMessageSize) {
      this.#paused = true
      this.#socket.pause()
    }
    void this.#pump()
  }

  #onEnd(): void {
    this.#readEnded = true
    // A message without its NUL can never complete: drop it, as sd-varlink does at EOF.
    if (this.#decoder.pendingBytes > 0) this.#log.debug('Varlink client closed mid-message, dropping it', { pid: this.peer.pid, bytes: this.#decoder.pendingBytes })
    void this.#pump()
  }

  #stopReading(): void {
    this.#paused = true
    this.#socket.pause()
  }

  #resumeIfDrained(): void {
    if (!this.#paused || this.#closing) return
    if (this.#queue.length * 2 > this.#limits.maxQueuedCalls || this.#queuedBytes * 2 > this.#limits.maxMessageSize) return
    if (this.#queue.at(-1)?.kind === 'oversized') return
    this.#paused = false
    this.#socket.resume()
  }

  async #pump(): Promise<void> {
    if (this.#busy) return
    this.#busy = true
    try {
      while (!this.#closing) {
        const frame = this.#queue.shift()
        if (frame === undefined) break
        if (frame.kind === 'oversized') {
          this.#log.warn('Varlink message over the size limit, closing the connection', { pid: this.peer.pid, limit: this.#limits.maxMessageSize })
          this.#writeError(systemError('ENOBUFS', 105))
          this.#shutdown()
          break
        }
        this.#queuedBytes -= frame.bytes.length
        this.#resumeIfDrained()
        const call = parseCall(frame.bytes)
        if (typeof call === 'string') {
          this.#log.debug('Varlink protocol violation, closing the connection', { pid: this.peer.pid, reason: call })
          this.#shutdown()
          break
        }
        await this.#dispatch(call, this.#channel(call), this.peer)
        // Most calls leave nothing to wait for: no await then, which would cost a trip through the microtask queue.
        if (this.#fdWrite !== undefined || this.#socket.writableLength > this.#limits.maxMessageSize) await this.#writable()
      }
    } catch (err) {
      this.#log.error('Varlink connection failed', { pid: this.peer.pid, error: String((err as Error)?.stack ?? err) })
      this.#shutdown()
    } finally {
      this.#busy = false
    }
    if (this.#readEnded && this.#queue.length === 0 && !this.#closing) this.#shutdown()
  }

  /** Waits while the client is not reading and a message limit of replies waits for it. */
  async #writable(): Promise<void> {
    if (this.#fdWrite !== undefined) await this.#fdWrite
    const socket = this.#socket
    if (socket.writableLength <= this.#limits.maxMessageSize || socket.destroyed) return
    await new Promise<void>((resolve) => {
      const done = (): void => { socket.off('drain', done); socket.off('close', done); resolve() }
      socket.on('drain', done)
      socket.on('close', done)
    })
  }

  #channel(call: IncomingCall): ReplyChannel {
    if (call.oneway) return { notify: () => undefined, reply: (_p, fds) => closeFds(fds ?? []), error: () => undefined }
    let done = false
    const final = (message: Record<string, unknown>, fds: readonly number[] = []): void => {
      if (done) { this.#log.error('Second final reply to one Varlink call, dropped', { method: call.method }); closeFds(fds); return }
      done = true
      if (fds.length === 0) this.#write(message)
      else this.#fdWrite = this.#writeWithFds(message, fds)
    }
    return {
      notify: (parameters) => {
        if (done || !call.more) { this.#log.error('Varlink reply with continues to a call without more, dropped', { method: call.method }); return }
        this.#corkForTurn()
        this.#write({ parameters, continues: true })
      },
      reply: (parameters, fds) => final(isEmptyRecord(parameters) ? EMPTY_REPLY : { parameters }, fds),
      error: (error) => final({ error: error.error, parameters: error.parameters }),
    }
  }

  /**
   * A stream of replies (List with `more`) goes out in as few writes as the
   * replies' readiness allows: those written until the current callback and
   * its promise jobs are done leave in one writev, not a system call each.
   * A call answered once is written at once, as before.
   */
  #corkForTurn(): void {
    if (this.#corked) return
    this.#corked = true
    this.#socket.cork()
    process.nextTick(() => this.#uncork())
  }

  #uncork(): void {
    if (!this.#corked) return
    this.#corked = false
    this.#socket.uncork()
  }

  #writeError(error: VarlinkError): void {
    this.#write({ error: error.error, parameters: error.parameters })
  }

  #write(message: Record<string, unknown>): void {
    if (this.#socket.destroyed || !this.#socket.writable) return
    let bytes = message === EMPTY_REPLY ? EMPTY_REPLY_BYTES : encodeMessage(message)
    // sd-varlink refuses to queue a message over its buffer limit (ENOBUFS); so do we.
    if (bytes.length - 1 > this.#limits.maxMessageSize) {
      this.#log.warn('Varlink reply over the size limit, sending ENOBUFS instead', { bytes: bytes.length })
      const error = systemError('ENOBUFS', 105)
      bytes = encodeMessage({ error: error.error, parameters: error.parameters })
    }
    this.#socket.write(bytes)
  }

  /**
   * A reply that passes fds (node:net cannot): once node:net has handed
   * every earlier byte to the kernel, so the fds arrive with this reply,
   * the whole reply goes out through the fd sender, its fds on the first
   * byte. The fds are closed once sent, or when the client is gone.
   */
  async #writeWithFds(message: Record<string, unknown>, fds: readonly number[]): Promise<void> {
    const socket = this.#socket
    const bytes = encodeMessage(message)
    // What is corked must leave first, and only a write in progress makes 'drain' come.
    this.#uncork()
    try {
      while (socket.writableLength > 0 && !socket.destroyed) {
        await new Promise<void>((resolve) => {
          const done = (): void => { socket.off('drain', done); socket.off('close', done); resolve() }
          socket.on('drain', done)
          socket.on('close', done)
        })
      }
      if (socket.destroyed || !socket.writable || this.#fdSender === undefined) return
      await this.#fdSender(socket, bytes, fds)
    } catch (err) {
      this.#log.debug('Failed to pass fds on a Varlink connection, closing it', { pid: this.peer.pid, error: String(err) })
      socket.destroy()
    } finally {
      closeFds(fds)
      this.#fdWrite = undefined
    }
  }

  /** Sends what is queued for the client, then closes; no further call is taken. */
  #shutdown(): void {
    if (this.#closing) return
    this.#closing = true
    this.#queue.length = 0
    this.#socket.end(() => this.#socket.destroy())
    // A client that never reads would keep the flush, and so the connection, open for ever.
    setTimeout(() => this.#socket.destroy(), SHUTDOWN_GRACE_MS).unref()
  }
}
