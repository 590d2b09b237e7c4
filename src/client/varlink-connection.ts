/**
 * A Varlink client connection: NUL-terminated JSON over a unix socket,
 * calls answered in order, `more` replies streamed until one comes without
 * `continues`. It runs on the addon's socket (FdSocket), as the D-Bus
 * client does: node:net and its streams would cost a short-lived client
 * such as `mctl list` a few milliseconds of loading (bench/README.md).
 * No call of this client takes an fd with its reply; any that comes is closed.
 * @module
 */

import { closeSync } from 'node:fs'
import { FdSocket } from '../native/fd-socket.ts'
import { FrameDecoder } from '../wire/varlink/framing.ts'

/** What a reply may hold at most; the daemon's own limit is the same 16 MiB. */
const MAX_REPLY = 16 << 20

export class VarlinkReplyError extends Error {
  readonly error: string
  readonly parameters: Record<string, unknown>
  constructor(error: string, parameters: Record<string, unknown>) {
    super(error)
    this.name = 'VarlinkReplyError'
    this.error = error
    this.parameters = parameters
  }
}

interface Pending {
  readonly onReply: (parameters: Record<string, unknown>, continues: boolean) => void
  readonly onError: (err: Error) => void
}

export class VarlinkConnection {
  readonly #socket: FdSocket
  readonly #frames = new FrameDecoder(MAX_REPLY)
  readonly #pending: Pending[] = []
  #closed: Error | undefined

  private constructor(socket: FdSocket) {
    this.#socket = socket
    socket.listen({
      data: (chunk, fds) => {
        for (const fd of fds) closeSync(fd)
        this.#onData(chunk)
      },
      end: () => this.#fail(new Error('The Varlink connection closed')),
      error: (err) => this.#fail(err),
    })
  }

  /** Rejects with the connect error (ENOENT, ECONNREFUSED, EACCES), as node:net reports them. */
  static async connect(path: string): Promise<VarlinkConnection> {
    return new VarlinkConnection(FdSocket.connect(path))
  }

  #onData(chunk: Buffer): void {
    for (const frame of this.#frames.push(chunk)) {
      if (frame.kind === 'oversized') { this.#fail(new Error('Varlink reply too large')); this.#socket.destroy(); return }
      let reply: { parameters?: Record<string, unknown>; error?: string; continues?: boolean }
      try {
        reply = JSON.parse(frame.bytes.toString('utf8')) as typeof reply
      } catch {
        this.#fail(new Error('Malformed Varlink reply'))
        this.#socket.destroy()
        return
      }
      const head = this.#pending[0]
      if (head === undefined) continue
      const continues = reply.continues === true && reply.error === undefined
      if (!continues) this.#pending.shift()
      if (reply.error !== undefined) head.onError(new VarlinkReplyError(reply.error, reply.parameters ?? {}))
      else head.onReply(reply.parameters ?? {}, continues)
    }
  }

  #fail(err: Error): void {
    if (this.#closed !== undefined) return
    this.#closed = err
    for (const p of this.#pending.splice(0)) p.onError(err)
  }

  #send(message: object, pending: Pending): void {
    if (this.#closed !== undefined) { pending.onError(this.#closed); return }
    this.#pending.push(pending)
    this.#socket.write(Buffer.from(`${JSON.stringify(message)}\0`), [], (err) => { if (err !== undefined) this.#fail(err) })
  }

  call(method: string, parameters: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => this.#send({ method, parameters }, { onReply: (p) => resolve(p), onError: reject }))
  }

  /** A call with `more`: every reply until the last. */
  callMore(method: string, parameters: Record<string, unknown>): Promise<Record<string, unknown>[]> {
    return new Promise((resolve, reject) => {
      const replies: Record<string, unknown>[] = []
      this.#send({ method, parameters, more: true }, {
        onReply: (p, continues) => { replies.push(p); if (!continues) resolve(replies) },
        onError: reject,
      })
    })
  }

  /** A call with `more`, each reply handed to `onReply` as it comes; resolves with the last. */
  callStream(method: string, parameters: Record<string, unknown>, onReply: (parameters: Record<string, unknown>) => void): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.#send({ method, parameters, more: true }, {
        onReply: (p, continues) => { if (continues) onReply(p); else resolve(p) },
        onError: reject,
      })
    })
  }

  close(): void {
    this.#socket.destroy()
    this.#fail(new Error('The Varlink connection closed'))
  }
}
