/**
 * What every front end that puts the user's terminal on a pty or a serial
 * console shares (systemd's ptyfwd.c serves machinectl, nspawn and vmspawn
 * alike): allocating a pty (native/addon/pty.c), our terminal in raw
 * mode while attached, the escape — Ctrl-] three times within a second —
 * that leaves the session, the terminal's size passed on, and writing what
 * the user types to a pty master in order.
 * @module
 */

import { write } from 'node:fs'
import { loadAddon } from '../native/addon.ts'

/** Ctrl-] three times within a second, as ptyfwd's look_for_escape() counts. */
const ESCAPE_BYTE = 0x1d
const ESCAPE_COUNT = 3
const ESCAPE_WINDOW_MS = 1000
/** How soon a write to a full (non-blocking) pty is tried again. */
const WRITE_RETRY_MS = 10

export interface Pty {
  readonly master: number
  readonly slave: number
  /** e.g. /dev/pts/3 */
  readonly path: string
}

interface Addon {
  ptyOpen(): Pty
  ptySetWindowSize(fd: number, columns: number, rows: number): void
}

/** A new pty, both ends open and close-on-exec. */
export function ptyOpen(): Pty {
  return loadAddon<Addon>().ptyOpen()
}

/** TIOCSWINSZ on either end. */
export function ptySetWindowSize(fd: number, columns: number, rows: number): void {
  loadAddon<Addon>().ptySetWindowSize(fd, columns, rows)
}

/** Counts Ctrl-] presses: true once the last three fell within a second; any other byte starts over. */
export class EscapeDetector {
  #times: number[] = []

  feed(bytes: Uint8Array, now: number): boolean {
    for (const b of bytes) {
      if (b !== ESCAPE_BYTE) { this.#times = []; continue }
      this.#times.push(now)
      this.#times = this.#times.filter((t) => now - t < ESCAPE_WINDOW_MS)
      if (this.#times.length >= ESCAPE_COUNT) { this.#times = []; return true }
    }
    return false
  }
}

export interface InputOptions {
  /** Put the input in raw mode while attached (when it is a terminal). */
  readonly raw: boolean
  /** Watch for the escape; a chunk that completes it is not passed on. */
  readonly escape: boolean
  onData(chunk: Buffer): void
  onEscape(): void
}

/** Reads our input until the returned function detaches it (and restores the terminal). */
export function attachInput(input: NodeJS.ReadStream, options: InputOptions): () => void {
  const raw = options.raw && input.isTTY === true
  if (raw) input.setRawMode(true)
  const escape = options.escape ? new EscapeDetector() : undefined
  const onData = (chunk: Buffer): void => {
    if (escape?.feed(chunk, Date.now()) === true) { options.onEscape(); return }
    options.onData(chunk)
  }
  input.on('data', onData)
  input.resume()
  return () => {
    input.off('data', onData)
    if (raw) { try { input.setRawMode(false) } catch { /* the terminal is gone */ } }
    input.pause()
  }
}

/** Gives the pty our terminal's size now and after every resize, until the returned function stops it. */
export function forwardWindowSize(output: NodeJS.WriteStream, master: number): () => void {
  if (output.isTTY !== true) return () => undefined
  const resize = (): void => { try { ptySetWindowSize(master, output.columns, output.rows) } catch { /* closed */ } }
  resize()
  output.on('resize', resize)
  return () => { output.off('resize', resize) }
}

/**
 * Writes chunks to a pty master in order. A non-blocking master (one a tty
 * stream reads) answers EAGAIN while its buffer is full: that chunk is
 * tried again shortly. Any other error drops what is queued.
 */
export class PtyWriter {
  readonly #fd: number
  readonly #pending: Buffer[] = []
  #writing = false
  #closed = false

  constructor(fd: number) {
    this.#fd = fd
  }

  write(chunk: Buffer): void {
    if (this.#closed) return
    this.#pending.push(chunk)
    if (!this.#writing) this.#next()
  }

  /** Drops what is queued; later writes are ignored. */
  close(): void {
    this.#closed = true
    this.#pending.length = 0
  }

  #next(): void {
    const head = this.#pending[0]
    if (head === undefined || this.#closed) { this.#writing = false; return }
    this.#writing = true
    write(this.#fd, head, (err, written) => {
      if (this.#closed) { this.#writing = false; return }
      if (err !== null && err.code === 'EAGAIN') { setTimeout(() => this.#next(), WRITE_RETRY_MS); return }
      if (err !== null) { this.#pending.length = 0; this.#writing = false; return }
      if (written < head.length) this.#pending[0] = head.subarray(written)
      else this.#pending.shift()
      this.#next()
    })
  }
}
