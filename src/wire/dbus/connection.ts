/**
 * One D-Bus connection over a unix socket, at message level: connect,
 * authenticate, then cut the incoming stream into messages and send ours
 * in batches. A connection that negotiates fd passing runs on FdSocket
 * (src/native/fd-socket.ts: the project's own addon, recvmsg/sendmsg with
 * SCM_RIGHTS, waiting for writability when the socket is full); one that
 * does not uses node:net. The native socket also starts sooner: a
 * short-lived client on node:net first loads its modules and streams
 * (bench/README.md), so the SDK's client negotiates fd passing always.
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
import type { Socket } from 'node:net'
import { FdSocket, type FdSocketHandlers } from '../../native/fd-socket.ts'
import { connectUnixStream } from '../unix-stream.ts'
import { parseAddress } from './address.ts'
import { SaslClient } from './auth.ts'
import { AuthError, ConnectionClosedError, InvalidValueError, MalformedMessageError } from './errors.ts'
import { MessageFramer } from './framer.ts'
import { Writer } from './writer.ts'
import { decodeMessage, encodeMessage, MarshalledBody, type Message, type OutgoingMessage } from './message.ts'

/** The socket a connection runs on: FdSocket, or node:net's behind the same few methods. */
type Stream = Pick<FdSocket, 'listen' | 'pause' | 'resume' | 'write' | 'destroy'>

/** node:net's socket as a Stream, for connections that pass no fds. */
class NetStream implements Stream {
  readonly #socket: Socket
  #handlers: FdSocketHandlers | undefined

  constructor(socket: Socket) {
    this.#socket = socket
  }

  static async connect(path: string): Promise<NetStream> {
    return new NetStream(await connectUnixStream(path))
  }

  listen(handlers: FdSocketHandlers): void {
    const first = this.#handlers === undefined
    this.#handlers = handlers
    if (!first) return
    this.#socket.on('data', (data: Buffer) => this.#handlers?.data(data, []))
    this.#socket.on('end', () => this.#handlers?.end())
    this.#socket.on('error', (err) => this.#handlers?.error(err))
  }

  pause(): void {
    this.#socket.pause()
  }

  resume(): void {
    this.#socket.resume()
  }

  write(data: Buffer, fds: readonly number[] = [], done?: (err?: Error) => void): void {
    // Connection never sends fds without having negotiated them, and then it runs on FdSocket.
    if (fds.length > 0) throw new InvalidValueError('Cannot pass fds on this connection')
    this.#socket.write(data, done === undefined ? undefined : (err) => done(err ?? undefined))
  }

  destroy(): void {
    this.#socket.destroy()
  }
}

/** A MarshalledBody this long is written to the socket as it is rather than copied behind its header. */
const BODY_APART_BYTES = 16 * 1024

/** fds received that no message has claimed yet; more than this is a peer flooding us. */
const MAX_QUEUED_FDS = 1024
const AUTH_TIMEOUT_MS = 30_000

export interface ConnectOptions {
  /** Ask for UNIX fd passing (default true). */
  readonly negotiateUnixFd?: boolean
  /** The uid to authenticate as (default: our own). */
  readonly uid?: number
  /**
   * Resolve as soon as the handshake is written rather than answered:
   * messages sent meanwhile follow our BEGIN, in the same write when sent
   * in the same tick (auth.ts), and `authenticated` settles with the
   * handshake. No fd can be sent before it has settled.
   */
  readonly pipelined?: boolean
  /**
   * When messages queued for sending go out: 'tick' (the default), once
   * the callback that queued them is done (process.nextTick); 'turn', once
   * every I/O callback of this turn of the event loop is done
   * (setImmediate), so that a service answering many callers at once (a
   * Varlink call per socket, each announcing a signal) writes them all
   * in one sendmsg. The bytes and their order are the same either way.
   */
  readonly flush?: 'tick' | 'turn'
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

async function connectStream(path: string, passFds: boolean): Promise<Stream> {
  return passFds ? FdSocket.connect(path) : NetStream.connect(path)
}

export class Connection {
  readonly #socket: Stream
  #unixFd = false
  /** The handshake while its answers are awaited; the bytes before them are its. */
  #sasl: SaslClient | undefined
  /** The handshake's bytes, written in front of the first messages. */
  #preamble: Buffer | undefined
  #authTimer: NodeJS.Timeout | undefined
  /** Settles `authenticated`; undefined once it has. */
  #authSettle: ((err?: Error) => void) | undefined
  /** Settles once the bus has answered the handshake: rejects with an AuthError (the connection is closed then). */
  readonly authenticated: Promise<void>
  readonly #framer = new MessageFramer()
  readonly #writer = new Writer()
  #fdQueue: number[] = []
  /** fds handed to the socket and not yet sent. */
  readonly #sendingFds = new Set<number>()
  #serial = 0
  #flushScheduled = false
  readonly #flushPerTurn: boolean
  #closed = false
  #onMessage: ((msg: Message) => void) | undefined
  /** Messages decoded before there was a handler (bytes right behind the handshake). */
  #backlog: Message[] = []
  readonly #closeHandlers: ((err: Error | undefined) => void)[] = []

  private constructor(socket: Stream, sasl: SaslClient, flush: 'tick' | 'turn') {
    this.#socket = socket
    this.#sasl = sasl
    this.#flushPerTurn = flush === 'turn'
    this.authenticated = new Promise((resolve, reject) => {
      this.#authSettle = (err) => { if (err === undefined) resolve(); else reject(err) }
    })
    // Whoever does not wait for it hears of a failure as the connection's close.
    this.authenticated.catch(() => undefined)
    this.#authTimer = setTimeout(() => this.#fail(new AuthError(`No answer to SASL authentication within ${AUTH_TIMEOUT_MS / 1000} s`)), AUTH_TIMEOUT_MS)
    // Errors after close (a queued write meeting a destroyed socket) are expected: #fail ignores them.
    socket.listen({
      data: (data, fds) => this.#onData(data, fds),
      end: () => this.#fail(this.#sasl !== undefined ? new AuthError('The bus closed the connection during authentication') : new ConnectionClosedError('The bus closed the connection')),
      error: (err) => this.#fail(err),
    })
    this.#preamble = Buffer.from(sasl.start(), 'latin1')
    this.#scheduleFlush()
  }

  /** Whether the peer agreed to pass fds (false until it has answered). */
  get unixFd(): boolean {
    return this.#unixFd
  }

  /** Connects to the first address entry that answers and authenticates; rejects with the last failure. */
  static async open(address: string, options: ConnectOptions = {}): Promise<Connection> {
    let lastError: unknown
    for (const entry of parseAddress(address)) {
      let socket: Stream
      try {
        socket = await connectStream(entry.socketPath, options.negotiateUnixFd ?? true)
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
    return Connection.#handshake(new FdSocket(fd), options)
  }

  static async #handshake(socket: Stream, options: ConnectOptions): Promise<Connection> {
    const uid = options.uid ?? process.getuid?.() ?? 0
    const conn = new Connection(socket, new SaslClient({ uid, negotiateUnixFd: options.negotiateUnixFd ?? true }), options.flush ?? 'tick')
    // On failure the connection has closed itself (#fail).
    if (options.pipelined !== true) await conn.authenticated
    return conn
  }

  /** Bytes while the handshake's answers are awaited; messages right behind them wait in the backlog for onMessage(). */
  #onAuthData(data: Buffer): void {
    let step
    try {
      step = this.#sasl!.feed(data)
    } catch (err) {
      this.#fail(err instanceof Error ? err : new AuthError(String(err)))
      return
    }
    if (step.result === undefined) return
    this.#sasl = undefined
    this.#unixFd = step.result.unixFd
    this.#settleAuth()
    if (step.rest !== undefined) {
      this.#framer.push(step.rest)
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

  #onData(data: Buffer, fds: number[]): void {
    if (this.#closed) {
      closeFds(fds)
      return
    }
    if (this.#sasl !== undefined) {
      // Nobody sends fds before BEGIN.
      closeFds(fds)
      this.#onAuthData(data)
      return
    }
    if (fds.length > 0) {
      if (!this.unixFd) closeFds(fds)
      else this.#fdQueue.push(...fds)
    }
    this.#framer.push(data)
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
    // A big body marshalled once (ListMachines with thousands of machines) goes out as it is, never copied.
    const apart = m.body instanceof MarshalledBody && m.body.bytes.length >= BODY_APART_BYTES ? m.body.bytes : undefined
    const fds = encodeMessage(w, m, serial, apart !== undefined)
    if (apart !== undefined) {
      this.#flush()
      this.#socket.write(apart)
      return serial
    }
    if (fds.length === 0) {
      this.#scheduleFlush()
      return serial
    }
    // A message with fds leaves alone, fds attached to its first byte.
    w.rollback(w.base, 0)
    if (this.#sasl !== undefined) throw new InvalidValueError('Cannot pass fds before the bus has answered the handshake')
    if (!this.unixFd) throw new InvalidValueError('Cannot pass fds: the bus did not agree to UNIX fd passing')
    this.#flush()
    encodeMessage(w, m, serial)
    const { data } = w.take()
    for (const fd of fds) this.#sendingFds.add(fd)
    this.#socket.write(data, fds, () => {
      for (const fd of fds) this.#sendingFds.delete(fd)
      closeFds(fds)
    })
    return serial
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    if (this.#flushPerTurn) setImmediate(() => this.#flush())
    else process.nextTick(() => this.#flush())
  }

  #flush(): void {
    this.#flushScheduled = false
    if (this.#closed) return
    const preamble = this.#preamble
    this.#preamble = undefined
    if (this.#writer.pending === 0) {
      if (preamble !== undefined) this.#socket.write(preamble)
      return
    }
    const { data } = this.#writer.take()
    this.#socket.write(preamble === undefined ? data : Buffer.concat([preamble, data]))
  }

  /** Ends the wait for the handshake's answers, once: its timer, and `authenticated` (rejected with `err`). */
  #settleAuth(err?: Error): void {
    clearTimeout(this.#authTimer)
    this.#authSettle?.(err)
    this.#authSettle = undefined
  }

  #release(err: Error): void {
    this.#closed = true
    this.#settleAuth(err)
    for (const msg of this.#backlog) closeFds(msg.fds)
    this.#backlog = []
    closeFds(this.#fdQueue)
    this.#fdQueue = []
    // Writes still queued end with the socket, and close their fds as they do; any left are closed here.
    this.#socket.destroy()
    closeFds([...this.#sendingFds])
    this.#sendingFds.clear()
  }

  #fail(err: Error | undefined): void {
    if (this.#closed) return
    this.#release(err ?? new ConnectionClosedError())
    for (const h of this.#closeHandlers) h(err)
  }

  /** Sends what is queued and closes; close handlers are not called. */
  close(): void {
    if (this.#closed) return
    this.#flush()
    this.#release(new ConnectionClosedError('The connection was closed during authentication'))
  }
}
