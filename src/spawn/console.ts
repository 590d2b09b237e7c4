/**
 * Forwarding the container's console (the pty its /dev/console is) to our
 * terminal, per --console= (nspawn's ptyfwd): interactive copies both ways
 * with our terminal in raw mode, read-only only shows the output, passive
 * reads and drops it (someone must read, or the guest's writes stall). In
 * pipe mode there is no pty and nothing to forward. Ctrl-] three times
 * within a second kills the container, as in nspawn.
 *
 * The pty stays open on our side (master and one slave fd) for as long as
 * a container uses it: without an open slave the master reads EIO once the
 * guest's systemd hangs its console up, and without a reader every status
 * line costs the guest a timeout.
 * @module
 */

import { closeSync } from 'node:fs'
import { ReadStream } from 'node:tty'
import { attachInput, forwardWindowSize, ptyOpen, PtyWriter, type Pty } from '../linux/pty.ts'
import type { ConsoleMode } from './options.ts'

export interface ConsoleOptions {
  readonly mode: Exclude<ConsoleMode, 'pipe'>
  readonly input: NodeJS.ReadStream
  readonly output: NodeJS.WriteStream
  /** Called when the user typed the escape sequence. */
  readonly onEscape: () => void
}

export class ConsoleForwarder {
  readonly pty: Pty
  readonly #options: ConsoleOptions
  readonly #reader: ReadStream
  readonly #writer: PtyWriter
  #closed = false
  #lastData = Date.now()
  readonly #cleanups: (() => void)[] = []

  private constructor(pty: Pty, options: ConsoleOptions) {
    this.pty = pty
    this.#options = options
    this.#reader = new ReadStream(pty.master)
    // The master is non-blocking now (libuv set it): the writer waits out a full buffer.
    this.#writer = new PtyWriter(pty.master)
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
    const { input, output, mode, onEscape } = this.#options
    this.#cleanups.push(forwardWindowSize(output, this.pty.master))
    if (mode !== 'interactive') return
    this.#cleanups.push(attachInput(input, { raw: true, escape: true, onData: (chunk) => this.#writer.write(chunk), onEscape }))
  }

  /** Reads what the guest wrote last (until it has been quiet for a moment), then lets go of the pty. */
  async close(): Promise<void> {
    if (this.#closed) return
    const deadline = Date.now() + 500
    while (Date.now() - this.#lastData < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    this.#closed = true
    this.#writer.close()
    for (const c of this.#cleanups.reverse()) c()
    this.#reader.destroy()
    try { closeSync(this.pty.slave) } catch { /* closed */ }
  }
}
