/**
 * machinectl's process_forward() and systemd's pty_forward: copies our
 * terminal to a machine's pty and back until the session ends, with our
 * terminal in raw mode when stdin is one, its size passed on, and Ctrl-]
 * pressed three times within a second leaving the session.
 *
 * The master is read with blocking reads on libuv's thread pool rather
 * than a tty stream: a login's getty hangs its terminal up (vhangup())
 * before it prompts, which makes the master read EIO for a moment, and a
 * stream would close the fd on that error. A shell session ends at the
 * first EIO (every peer closed); a login session (`ignoreHangup`, as
 * PTY_FORWARD_IGNORE_VHANGUP) keeps reading until its machine is gone.
 * @module
 */

import { read } from 'node:fs'
import { attachInput, forwardWindowSize, PtyWriter } from '../linux/pty.ts'

/** How long to wait before reading again after a hangup in a login session. */
const HANGUP_RETRY_MS = 50

export interface ForwardOptions {
  readonly master: number
  readonly input: NodeJS.ReadStream
  readonly output: NodeJS.WriteStream
  /** Keep going through hangups (a login); stop() ends it. */
  readonly ignoreHangup: boolean
}

export interface ForwardResult {
  /** The last byte written to our output, if any (machinectl adds a newline unless it was one). */
  readonly lastChar: number | undefined
  /** Ended by the escape sequence rather than by the machine. */
  readonly escaped: boolean
}

export class PtyForward {
  readonly #options: ForwardOptions
  readonly #cleanups: (() => void)[] = []
  readonly #done: Promise<ForwardResult>
  #finish!: (result: ForwardResult) => void
  #lastChar: number | undefined
  #ended = false
  #stopRequested = false

  constructor(options: ForwardOptions) {
    this.#options = options
    this.#done = new Promise((resolve) => { this.#finish = resolve })
    this.#startInput()
    this.#cleanups.push(forwardWindowSize(options.output, options.master))
    this.#readLoop()
  }

  /** Resolves once the session ended. */
  get done(): Promise<ForwardResult> {
    return this.#done
  }

  /**
   * The machine is gone (MachineRemoved): a login session ends at its next
   * hangup, after what is still queued has been shown, as machinectl's
   * on_machine_removed() makes it.
   */
  stopAtHangup(): void {
    this.#stopRequested = true
  }

  #end(escaped: boolean): void {
    if (this.#ended) return
    this.#ended = true
    for (const c of this.#cleanups.reverse()) c()
    this.#finish({ lastChar: this.#lastChar, escaped })
  }

  #readLoop(): void {
    const buffer = Buffer.alloc(4096)
    const next = (): void => {
      if (this.#ended) return
      read(this.#options.master, buffer, 0, buffer.length, null, (err, n) => {
        if (this.#ended) return
        if (err !== null || n === 0) {
          const hangup = err?.code === 'EIO'
          if (hangup && this.#options.ignoreHangup && !this.#stopRequested) { setTimeout(next, HANGUP_RETRY_MS); return }
          this.#end(false)
          return
        }
        const chunk = Buffer.from(buffer.subarray(0, n))
        this.#lastChar = chunk[n - 1]
        this.#options.output.write(chunk)
        next()
      })
    }
    next()
  }

  #startInput(): void {
    const writer = new PtyWriter(this.#options.master)
    this.#cleanups.push(() => writer.close())
    this.#cleanups.push(attachInput(this.#options.input, {
      raw: true,
      escape: true,
      onData: (chunk) => writer.write(chunk),
      onEscape: () => this.#end(true),
    }))
  }
}
