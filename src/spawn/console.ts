/**
 * Forwarding the container's console (the pty its /dev/console is) to our
 * terminal, per --console= (nspawn's ptyfwd): interactive copies both ways
 * with our terminal in raw mode, read-only only shows the output, passive
 * reads and drops it (someone must read, or the guest's writes stall). In
 * pipe mode there is no pty and nothing to forward.
 *
 * The pty stays open on our side (master and one slave fd) for as long as
 * a container uses it: without an open slave the master reads EIO once the
 * guest's systemd hangs its console up, and without a reader every status
 * line costs the guest a timeout (../shared/spec/this-machine.md).
 * @module
 */

import { closeSync, write } from 'node:fs'
import { ReadStream } from 'node:tty'
import type { ConsoleMode } from './options.ts'
import { ptyOpen, ptySetWindowSize, type Pty } from './native.ts'

/** Ctrl-] three times within a second kills the container, as in nspawn. */
const ESCAPE = 0x1d
const ESCAPE_COUNT = 3
const ESCAPE_WINDOW_MS = 1000

export interface ConsoleOptions {
  readonly mode: Exclude<ConsoleMode, 'pipe'>
  readonly input: NodeJS.ReadStream
  readonly output: NodeJS.WriteStream
  /** Called when the user typed the escape sequence. */
  readonly onEscape: () => void
}

/** Counts Ctrl-] presses; true once the last three fell within a second. */
export class EscapeDetector {
  #times: number[] = []

  feed(chunk: Uint8Array, now: number): boolean {
    for (const byte of chunk) {
      if (byte !== ESCAPE) { this.#times = []; continue }
      this.#times.push(now)
      this.#times = this.#times.filter((t) => now - t < ESCAPE_WINDOW_MS)
      if (this.#times.length >= ESCAPE_COUNT) { this.#times = []; return true }
    }
    return false
  }
}

export class ConsoleForwarder {
  readonly pty: Pty
  readonly #options: ConsoleOptions
  readonly #reader: ReadStream
  readonly #pending: Buffer[] = []
  #writing = false
  #closed = false
  #lastData = Date.now()
  readonly #cleanups: (() => void)[] = []

  private constructor(pty: Pty, options: ConsoleOptions) {
    this.pty = pty
    this.#options = options
    this.#reader = new ReadStream(pty.master)
    this.#reader.on('error', () => undefined) // EIO when nobody holds a slave; we do, until close()
    this.#reader.on('data', (chunk: Buffer) => {
      this.#lastData = Date.now()
      if (options.mode === 'passive') return
      try { options.output.write(chunk) } catch { /* our stdout is gone: keep draining */ }
    })
  }

  /** Allocates the console pty and starts reading it. */
  static open(options: ConsoleOptions): ConsoleForwarder {
    const fwd = new ConsoleForwarder(ptyOpen(), options)
    fwd.#start()
    return fwd
  }

  #start(): void {
    const { input, output, mode } = this.#options
    if (output.isTTY) {
      const resize = (): void => { try { ptySetWindowSize(this.pty.master, output.columns, output.rows) } catch { /* closed */ } }
      resize()
      output.on('resize', resize)
      this.#cleanups.push(() => output.off('resize', resize))
    }
    if (mode !== 'interactive') return
    const escape = new EscapeDetector()
    if (input.isTTY) {
      input.setRawMode(true)
      this.#cleanups.push(() => { try { input.setRawMode(false) } catch { /* gone */ } })
    }
    const onData = (chunk: Buffer): void => {
      if (escape.feed(chunk, Date.now())) { this.#options.onEscape(); return }
      this.#send(chunk)
    }
    input.on('data', onData)
    input.resume()
    this.#cleanups.push(() => { input.off('data', onData); input.pause() })
  }

  /** Writes to the master; the fd is non-blocking (libuv set it), so a full pty buffer means: try again shortly. */
  #send(chunk: Buffer): void {
    this.#pending.push(chunk)
    if (this.#writing) return
    this.#writing = true
    const next = (): void => {
      const head = this.#pending[0]
      if (head === undefined || this.#closed) { this.#writing = false; return }
      write(this.pty.master, head, (err, written) => {
        if (err !== null && err.code === 'EAGAIN') { setTimeout(next, 10); return }
        if (err !== null) { this.#pending.length = 0; this.#writing = false; return }
        if (written < head.length) this.#pending[0] = head.subarray(written)
        else this.#pending.shift()
        next()
      })
    }
    next()
  }

  /** Reads what the guest wrote last (until it has been quiet for a moment), then lets go of the pty. */
  async close(): Promise<void> {
    if (this.#closed) return
    const deadline = Date.now() + 500
    while (Date.now() - this.#lastData < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    this.#closed = true
    for (const c of this.#cleanups.reverse()) c()
    this.#reader.destroy()
    try { closeSync(this.pty.slave) } catch { /* closed */ }
  }
}
