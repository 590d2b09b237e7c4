/**
 * One D-Bus connection over a unix socket, at message level: connect,
 * authenticate, then cut the incoming stream into messages and send ours
 * in batches. The socket is usocket's (a native unix socket that passes
 * fds with SCM_RIGHTS), used through its documented stream API; a
 * connection that does not negotiate fd passing (a client such as mctl)
 * uses node:net instead and never loads the native module, which is most
 * of a short-lived client's start-up.
 *
 * Messages sent in one tick of the event loop leave in one socket write
 * (a reply and the signals its call caused go out together). A message
 * that passes fds is written on its own, fds attached to its first byte.
 *
 * fds: received ones belong to the message they came with (Message.fds)
 * and whoever handles it must close them; fds that no message claims are
 * closed when the connection closes. fds passed for sending are the
 * connection's from then on and are closed once the kernel has them.
 *
 * A malformed message from the peer closes the connection: the close
 * handlers get the MalformedMessageError. Nothing thrown while reading
 * escapes into the socket's event handlers.
 * @module
 */

import { closeSync } from 'node:fs'
import { createRequire } from 'node:module'
import { Socket } from 'node:net'
import { types } from 'node:util'
import { parseAddress } from './address.ts'
import { SaslClient } from './auth.ts'
import { AuthError, ConnectionClosedError, InvalidValueError, MalformedMessageError } from './errors.ts'
import { MessageFramer } from './framer.ts'
import { Writer } from './writer.ts'
import { decodeMessage, encodeMessage, type Message, type OutgoingMessage } from './message.ts'

/** The part of usocket's USocket (a Duplex stream) we use. */
interface USocket {
  /** A path to connect to, or (usocket only) an fd already connected to adopt. */
  connect(target: string | { fd: number }): void
  on(event: 'connected' | 'readable' | 'end' | 'close', listener: () => void): unknown
  on(event: 'error', listener: (err: Error) => void): unknown
  once(event: 'connected', listener: () => void): unknown
  once(event: 'error', listener: (err: Error) => void): unknown
  removeAllListeners(event: string): unknown
  read(size: null, fdCount: null): { data: Buffer | null; fds: number[] } | null
  write(chunk: { data: Buffer; fds?: number[] }, callback: (err?: Error | null) => void): boolean
  write(chunk: Buffer): boolean
  destroy(): void
}

const require = createRequire(import.meta.url)
let USocketClass: (new () => USocket) | undefined

/** node:net's socket behind the part of usocket's interface we use: for connections that pass no fds. */
class NetSocket implements USocket {
  readonly #s = new Socket()
  static #event(event: string): string {
    return event === 'connected' ? 'connect' : event
  }

  connect(target: string | { fd: number }): void {
    if (typeof target !== 'string') throw new Error('A plain socket cannot adopt an fd')
    this.#s.connect(target)
  }

  on(event: string, listener: (err: Error) => void): this {
    this.#s.on(NetSocket.#event(event), listener)
    return this
  }

  once(event: string, listener: (err: Error) => void): this {
    this.#s.once(NetSocket.#event(event), listener)
    return this
  }

  removeAllListeners(event: string): this {
    this.#s.removeAllListeners(NetSocket.#event(event))
    return this
  }

  read(): { data: Buffer | null; fds: number[] } | null {
    const data = this.#s.read() as Buffer | null
    return data === null ? null : { data, fds: [] }
  }

  write(chunk: Buffer | { data: Buffer; fds?: number[] }, callback?: (err?: Error | null) => void): boolean {
    if (Buffer.isBuffer(chunk)) return this.#s.write(chunk)
    // Connection never sends fds without having negotiated them.
    return this.#s.write(chunk.data, callback)
  }

  destroy(): void {
    this.#s.destroy()
  }
}

/** fds received that no message has claimed yet; more than this is a peer flooding us. */
const MAX_QUEUED_FDS = 1024
const AUTH_TIMEOUT_MS = 30_000

export interface ConnectOptions {
  /** Ask for UNIX fd passing (default true). */
  readonly negotiateUnixFd?: boolean
  /** The uid to authenticate as (default: our own). */
  readonly uid?: number
}

/**
 * Closes fds that came with a message nobody consumed, or that one we sent
 * passed (errors ignored: they are gone either way). Each fd once: a
 * message may pass the same fd in several 'h' values (a pty as stdin,
 * stdout and stderr), and closing a number twice could close an fd that
 * was opened under it in between.
 */
export function closeFds(fds: readonly number[]): void {
  for (const fd of new Set(fds)) {
    try {
      closeSync(fd)
    } catch {
      // Already closed or never ours: nothing is left to release.
    }
  }
}

/** What fdSafeUSocket needs of usocket's internals (usocket 1.1.0, pinned in package.json). */
interface USocketInternals {
  _wrap: { write(data: Buffer | undefined, fds: number[] | undefined): unknown; drain: (() => void) | null } | null
  _write(chunk: unknown, encoding: unknown, callback: (err?: Error) => void): void
}

/**
 * usocket 1.1.0 with one bug fixed: when the kernel takes none of a
 * message's bytes (EAGAIN, the socket buffer is full while calls are
 * pipelined), its retry sends the rest without the fds, so the bus gets a
 * message that announces fds and carries none, and drops the connection.
 * This _write is usocket's own, except that a retry keeps the fds until
 * they are sent (the kernel takes SCM_RIGHTS with the first byte it takes).
 */
function fdSafeUSocket(module: { USocket: new () => USocket }): new () => USocket {
  const Base = module.USocket as unknown as new () => USocketInternals
  class FdSafeUSocket extends Base {
    override _write(chunk: unknown, encoding: unknown, callback: (err?: Error) => void): void {
      const wrap = this._wrap
      if (wrap === null) return callback(new Error('USocket not connected'))
      const c = (Buffer.isBuffer(chunk) ? { data: chunk } : chunk) as { data?: Buffer; fds?: number[]; callback?: (chunk: unknown) => void }
      const sent = wrap.write(c.data, c.fds)
      if (types.isNativeError(sent)) return callback(sent)
      const n = sent as number
      if (c.data === undefined || n === c.data.length) {
        c.callback?.(chunk)
        return callback()
      }
      const rest = { data: c.data.subarray(n), fds: n === 0 ? c.fds : undefined, callback: c.callback }
      wrap.drain = () => this._write(rest, encoding, callback)
    }
  }
  return FdSafeUSocket as unknown as new () => USocket
}

/**
 * usocket 1.1.0 stops its uv_poll_t with uv_close(), which libuv finishes
 * on a later turn of the event loop; but the handle lives inside usocket's
 * native wrapper, which the garbage collector may free as soon as the
 * socket lets go of it (destroy(), or usocket's own close after an error).
 * libuv then finishes closing freed memory and aborts the process
 * ("uv__finish_close: Assertion `handle->flags & UV_HANDLE_CLOSING'
 * failed"). So every wrapper stays reachable from here until a moment
 * after its socket is done with it.
 */
const nativeWrappers = new Set<object>()
const releaseWrapper = new WeakMap<USocket, () => void>()
const WRAPPER_GRACE_MS = 1000

function retainNativeWrapper(socket: USocket): void {
  const wrap = (socket as unknown as { _wrap?: unknown })._wrap
  if (typeof wrap !== 'object' || wrap === null) return
  nativeWrappers.add(wrap)
  let released = false
  const release = (): void => {
    if (released) return
    released = true
    setTimeout(() => nativeWrappers.delete(wrap), WRAPPER_GRACE_MS).unref()
  }
  releaseWrapper.set(socket, release)
  // usocket closes the wrapper itself on an error, and says so with 'close'.
  socket.on('close', release)
}

/** Destroys a socket; its native wrapper is let go of only after libuv has surely closed it. */
function destroySocket(socket: USocket): void {
  socket.destroy()
  releaseWrapper.get(socket)?.()
}

function connectSocket(path: string, passFds: boolean): Promise<USocket> {
  return new Promise((resolve, reject) => {
    let socket: USocket
    if (passFds) {
      USocketClass ??= fdSafeUSocket(require('usocket') as { USocket: new () => USocket })
      socket = new USocketClass()
    } else socket = new NetSocket()
    socket.once('connected', () => { socket.removeAllListeners('error'); resolve(socket) })
    socket.once('error', (err) => reject(err))
    socket.connect(path)
    retainNativeWrapper(socket)
  })
}

/** An already connected Unix socket fd as a socket that passes fds (usocket adopts it; it is the socket's from then on). */
function adoptSocket(fd: number): USocket {
  USocketClass ??= fdSafeUSocket(require('usocket') as { USocket: new () => USocket })
  const socket = new USocketClass()
  socket.connect({ fd })
  retainNativeWrapper(socket)
  return socket
}

/** Runs the SASL handshake; resolves with the result and any message bytes that followed it. */
function authenticate(socket: USocket, sasl: SaslClient): Promise<{ unixFd: boolean; rest: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, value?: { unixFd: boolean; rest: Buffer | undefined }): void => {
      clearTimeout(timer)
      socket.removeAllListeners('readable')
      socket.removeAllListeners('end')
      socket.removeAllListeners('error')
      if (err !== undefined) reject(err)
      else resolve(value!)
    }
    const timer = setTimeout(() => done(new AuthError(`No answer to SASL authentication within ${AUTH_TIMEOUT_MS / 1000} s`)), AUTH_TIMEOUT_MS)
    socket.on('error', (err) => done(err))
    socket.on('end', () => done(new AuthError('The bus closed the connection during authentication')))
    socket.on('readable', () => {
      try {
        for (;;) {
          const r = socket.read(null, null)
          if (r === null || (r.data === null && r.fds.length === 0)) return
          // Nobody sends fds before BEGIN.
          closeFds(r.fds)
          if (r.data === null) continue
          const step = sasl.feed(r.data)
          if (step.send !== '') socket.write(Buffer.from(step.send, 'latin1'))
          if (step.result !== undefined) {
            done(undefined, { unixFd: step.result.unixFd, rest: step.rest })
            return
          }
        }
      } catch (err) {
        done(err instanceof Error ? err : new AuthError(String(err)))
      }
    })
    socket.write(Buffer.from(sasl.start(), 'latin1'))
  })
}

export class Connection {
  readonly #socket: USocket
  /** Whether the peer agreed to pass fds. */
  readonly unixFd: boolean
  readonly #framer = new MessageFramer()
  readonly #writer = new Writer()
  #fdQueue: number[] = []
  /** fds handed to the socket and not yet sent. */
  readonly #sendingFds = new Set<number>()
  #serial = 0
  #flushScheduled = false
  #closed = false
  #onMessage: ((msg: Message) => void) | undefined
  /** Messages decoded before there was a handler (bytes right behind the handshake). */
  #backlog: Message[] = []
  readonly #closeHandlers: ((err: Error | undefined) => void)[] = []

  private constructor(socket: USocket, unixFd: boolean) {
    this.#socket = socket
    this.unixFd = unixFd
  }

  /** Connects to the first address entry that answers and authenticates; rejects with the last failure. */
  static async open(address: string, options: ConnectOptions = {}): Promise<Connection> {
    let lastError: unknown
    for (const entry of parseAddress(address)) {
      let socket: USocket
      try {
        socket = await connectSocket(entry.socketPath, options.negotiateUnixFd ?? true)
      } catch (err) {
        lastError = err
        continue
      }
      return Connection.#handshake(socket, options)
    }
    throw lastError instanceof Error ? lastError : new Error(`Could not connect to ${address}`)
  }

  /**
   * Authenticates over a Unix socket someone else connected (a bus inside
   * a container, reached from its namespaces, as sd-bus's x-machine-unix:
   * does); the fd is the connection's from then on, also on failure.
   */
  static async adopt(fd: number, options: ConnectOptions = {}): Promise<Connection> {
    return Connection.#handshake(adoptSocket(fd), options)
  }

  static async #handshake(socket: USocket, options: ConnectOptions): Promise<Connection> {
    const uid = options.uid ?? process.getuid?.() ?? 0
    try {
      const { unixFd, rest } = await authenticate(socket, new SaslClient({ uid, negotiateUnixFd: options.negotiateUnixFd ?? true }))
      const conn = new Connection(socket, unixFd)
      conn.#start(rest)
      return conn
    } catch (err) {
      socket.on('error', () => undefined)
      destroySocket(socket)
      throw err
    }
  }

  #start(rest: Buffer | undefined): void {
    const socket = this.#socket
    // Errors after close (a queued write meeting a destroyed socket) are expected; the handler stays.
    socket.on('error', (err) => this.#fail(err))
    socket.on('end', () => this.#fail(new ConnectionClosedError('The bus closed the connection')))
    socket.on('readable', () => this.#onReadable())
    // Messages right behind the handshake wait in the backlog for onMessage().
    if (rest !== undefined) {
      this.#framer.push(rest)
      this.#drain()
    }
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Where incoming messages go; the handler owns each message's fds. */
  onMessage(handler: (msg: Message) => void): void {
    this.#onMessage = handler
    const backlog = this.#backlog
    this.#backlog = []
    for (const msg of backlog) if (!this.#closed) handler(msg)
  }

  /** Called once when the connection closes by itself or by a peer's fault (not by close()). */
  onClose(handler: (err: Error | undefined) => void): void {
    this.#closeHandlers.push(handler)
  }

  #onReadable(): void {
    if (this.#closed) return
    for (;;) {
      const r = this.#socket.read(null, null)
      if (r === null || (r.data === null && r.fds.length === 0)) break
      if (r.fds.length > 0) {
        if (!this.unixFd) closeFds(r.fds)
        else this.#fdQueue.push(...r.fds)
      }
      if (r.data !== null) this.#framer.push(r.data)
    }
    if (this.#fdQueue.length > MAX_QUEUED_FDS) {
      this.#fail(new MalformedMessageError('BAD_FD', `More than ${MAX_QUEUED_FDS} fds received that no message claims`))
      return
    }
    this.#drain()
  }

  /** Decodes and hands out every whole message buffered. */
  #drain(): void {
    while (!this.#closed) {
      let msg: Message
      try {
        const frame = this.#framer.next()
        if (frame === undefined) return
        msg = decodeMessage(frame.buf, frame.start, frame.end, this.#fdQueue)
      } catch (err) {
        // Anything the decoder throws is the peer's fault, but only MalformedMessageError is expected.
        this.#fail(err instanceof MalformedMessageError ? err : new MalformedMessageError('BAD_HEADER', `Undecodable message: ${String(err)}`))
        return
      }
      if (msg.fds.length > 0) this.#fdQueue.splice(0, msg.fds.length)
      if (this.#onMessage === undefined) this.#backlog.push(msg)
      else this.#onMessage(msg)
    }
  }

  #nextSerial(): number {
    this.#serial = this.#serial >= 0xffff_ffff ? 1 : this.#serial + 1
    return this.#serial
  }

  /**
   * Queues a message for this tick's write and returns its serial. Throws
   * InvalidValueError (nothing is sent, fds stay the caller's) for an
   * invalid message, and ConnectionClosedError after close. Once it
   * returns, fds in the body are the connection's.
   */
  send(m: OutgoingMessage): number {
    if (this.#closed) throw new ConnectionClosedError()
    const w = this.#writer
    const serial = this.#nextSerial()
    const fds = encodeMessage(w, m, serial)
    if (fds.length === 0) {
      if (!this.#flushScheduled) {
        this.#flushScheduled = true
        process.nextTick(() => this.#flush())
      }
      return serial
    }
    // A message with fds leaves alone, fds attached to its first byte.
    w.rollback(w.base, 0)
    if (!this.unixFd) throw new InvalidValueError('Cannot pass fds: the bus did not agree to UNIX fd passing')
    this.#flush()
    encodeMessage(w, m, serial)
    const { data } = w.take()
    for (const fd of fds) this.#sendingFds.add(fd)
    this.#socket.write({ data, fds }, () => {
      for (const fd of fds) this.#sendingFds.delete(fd)
      closeFds(fds)
    })
    return serial
  }

  #flush(): void {
    this.#flushScheduled = false
    if (this.#closed || this.#writer.pending === 0) return
    this.#socket.write(this.#writer.take().data)
  }

  #release(): void {
    this.#closed = true
    for (const msg of this.#backlog) closeFds(msg.fds)
    this.#backlog = []
    closeFds(this.#fdQueue)
    this.#fdQueue = []
    closeFds([...this.#sendingFds])
    this.#sendingFds.clear()
    destroySocket(this.#socket)
  }

  #fail(err: Error | undefined): void {
    if (this.#closed) return
    this.#release()
    for (const h of this.#closeHandlers) h(err)
  }

  /** Sends what is queued and closes; close handlers are not called. */
  close(): void {
    if (this.#closed) return
    this.#flush()
    this.#release()
  }
}
