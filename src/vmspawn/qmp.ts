/**
 * A small QMP client: enough to power a guest off (system_powerdown, the
 * ACPI power button), reset it (system_reset) and see qemu's events.
 * The launcher listens on a Unix socket and qemu connects to it at start
 * (`-chardev socket,path=…` without server=on), so there is no window in
 * which a signal finds no monitor to talk to: commands wait for the
 * connection. systemd-vmspawn does the same over a socketpair.
 * @module
 */

import { createServer, type Server, type Socket } from 'node:net'
import { rmSync } from 'node:fs'

/** QMP messages are JSON objects separated by CRLF (qemu's json-streamer also copes with LF). */
export class QmpFramer {
  #buffer = ''

  /** The complete messages in this chunk and the ones before it; malformed lines are skipped. */
  push(chunk: string): Record<string, unknown>[] {
    this.#buffer += chunk
    const out: Record<string, unknown>[] = []
    for (let nl = this.#buffer.indexOf('\n'); nl >= 0; nl = this.#buffer.indexOf('\n')) {
      const line = this.#buffer.slice(0, nl).trim()
      this.#buffer = this.#buffer.slice(nl + 1)
      if (line === '') continue
      try {
        const v: unknown = JSON.parse(line)
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) out.push(v as Record<string, unknown>)
      } catch { /* not JSON: qemu never sends that; ignore rather than die */ }
    }
    return out
  }
}

export class QmpError extends Error {
  readonly errorClass: string

  constructor(errorClass: string, message: string) {
    super(message)
    this.name = 'QmpError'
    this.errorClass = errorClass
  }
}

export interface QmpEvent {
  readonly event: string
  readonly data: Record<string, unknown>
}

interface Pending {
  resolve(value: unknown): void
  reject(err: Error): void
}

/** One negotiated QMP session with a qemu process. */
export class QmpConnection {
  readonly #socket: Socket
  readonly #framer = new QmpFramer()
  readonly #pending = new Map<number, Pending>()
  readonly #listeners = new Set<(e: QmpEvent) => void>()
  #nextId = 1
  #greeted: (() => void) | undefined
  #closed = false

  private constructor(socket: Socket) {
    this.#socket = socket
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { for (const m of this.#framer.push(chunk)) this.#dispatch(m) })
    socket.on('error', () => undefined) // 'close' follows and fails what is pending
    socket.on('close', () => this.#fail(new Error('qemu closed its QMP connection')))
  }

  /** Waits for qemu's greeting and leaves capabilities-negotiation mode. */
  static async negotiate(socket: Socket): Promise<QmpConnection> {
    const c = new QmpConnection(socket)
    await new Promise<void>((resolve, reject) => {
      c.#greeted = resolve
      socket.once('close', () => reject(new Error('qemu closed its QMP connection before greeting')))
    })
    await c.execute('qmp_capabilities')
    return c
  }

  #dispatch(m: Record<string, unknown>): void {
    if ('QMP' in m) {
      this.#greeted?.()
      this.#greeted = undefined
      return
    }
    if (typeof m.event === 'string') {
      const e = { event: m.event, data: (m.data ?? {}) as Record<string, unknown> }
      for (const l of this.#listeners) l(e)
      return
    }
    const id = typeof m.id === 'number' ? m.id : undefined
    const p = id === undefined ? undefined : this.#pending.get(id)
    if (p === undefined || id === undefined) return
    this.#pending.delete(id)
    if ('error' in m) {
      const e = (m.error ?? {}) as { class?: unknown; desc?: unknown }
      p.reject(new QmpError(typeof e.class === 'string' ? e.class : 'GenericError', typeof e.desc === 'string' ? e.desc : 'QMP command failed'))
    } else {
      p.resolve(m.return)
    }
  }

  #fail(err: Error): void {
    this.#closed = true
    for (const p of this.#pending.values()) p.reject(err)
    this.#pending.clear()
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error('QMP connection is closed'))
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#socket.write(`${JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id })}\r\n`)
    })
  }

  onEvent(listener: (e: QmpEvent) => void): void {
    this.#listeners.add(listener)
  }

  close(): void {
    this.#closed = true
    this.#socket.destroy()
  }
}

/**
 * The launcher's end of the QMP socket. `connection` settles once qemu
 * has connected and the session is negotiated (or fails when close() is
 * called first).
 */
export class QmpListener {
  readonly #server: Server
  readonly #path: string
  readonly connection: Promise<QmpConnection>

  private constructor(server: Server, path: string) {
    this.#server = server
    this.#path = path
    this.connection = new Promise<QmpConnection>((resolve, reject) => {
      let connected = false
      server.once('connection', (socket: Socket) => {
        connected = true
        // One monitor per qemu: nobody else gets in.
        server.close()
        QmpConnection.negotiate(socket).then(resolve, reject)
      })
      server.once('close', () => { if (!connected) reject(new Error('qemu never connected to its QMP socket')) })
    })
    // Nobody may be waiting yet; a failure is reported to whoever asks.
    this.connection.catch(() => undefined)
  }

  static async listen(path: string): Promise<QmpListener> {
    const server = createServer()
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ path, exclusive: true }, () => { server.off('error', reject); resolve() })
    })
    return new QmpListener(server, path)
  }

  close(): void {
    this.#server.close()
    void this.connection.then((c) => c.close(), () => undefined)
    rmSync(this.#path, { force: true })
  }
}
