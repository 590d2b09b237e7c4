/**
 * A deliberately dumb Varlink client for unit tests of the server: writes
 * whatever bytes a test gives it and hands back every NUL-terminated frame
 * the server sends, parsed, plus whether and when the server closed.
 */

import { connect, type Socket } from 'node:net'

export type Frame = Record<string, unknown>

export class RawClient {
  readonly socket: Socket
  readonly #frames: Frame[] = []
  readonly #waiters: (() => void)[] = []
  #buffer = Buffer.alloc(0)
  #closed = false

  private constructor(socket: Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk])
      for (let nul = this.#buffer.indexOf(0); nul >= 0; nul = this.#buffer.indexOf(0)) {
        this.#frames.push(JSON.parse(this.#buffer.subarray(0, nul).toString('utf8')) as Frame)
        this.#buffer = this.#buffer.subarray(nul + 1)
      }
      this.#wake()
    })
    socket.on('error', () => undefined)
    socket.on('close', () => { this.#closed = true; this.#wake() })
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path)
      socket.once('connect', () => resolve(new RawClient(socket)))
      socket.once('error', reject)
    })
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w()
  }

  get closed(): boolean {
    return this.#closed
  }

  /** An object goes out as JSON plus NUL; a string or Buffer exactly as given. */
  send(message: Frame | string | Buffer): void {
    this.socket.write(typeof message === 'object' && !Buffer.isBuffer(message) ? `${JSON.stringify(message)}\0` : message)
  }

  /** The next frame, or undefined once the server has closed and nothing is left. */
  async next(timeoutMs = 5000): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs
    while (this.#frames.length === 0 && !this.#closed) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error('timed out waiting for a Varlink frame')
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
    return this.#frames.shift()
  }

  /** Sends one call and returns its single reply. */
  async call(method: string, parameters: Frame = {}, flags: { more?: boolean } = {}): Promise<Frame> {
    this.send({ method, parameters, ...flags })
    const reply = await this.next()
    if (reply === undefined) throw new Error(`connection closed instead of a reply to ${method}`)
    return reply
  }

  /** Resolves once the server has closed the connection (true) or the time is up (false). */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (!this.#closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    return this.#closed
  }

  end(): void {
    this.socket.end()
  }

  destroy(): void {
    this.socket.destroy()
  }
}
