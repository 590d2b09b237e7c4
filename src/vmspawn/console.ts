/**
 * The serial console between the user and the guest (qemu's stdio
 * chardev). Modes as vmspawn names them (--console=): interactive puts a
 * terminal in raw mode and forwards keys, with vmspawn's escape — Ctrl-]
 * three times within a second kills the VM (ptyfwd); read-only shows the
 * output and never reads stdin; pipe forwards stdin and stdout as bytes,
 * for scripts. Output goes to stdout in every mode, and to `onOutput`.
 * @module
 */

import type { ChildProcess } from 'node:child_process'
import type { ConsoleMode } from './options.ts'

const ESCAPE_BYTE = 0x1d // Ctrl-]
const ESCAPE_COUNT = 3
const ESCAPE_WINDOW_MS = 1000

/** Counts Ctrl-] presses: true once three fell within one second. */
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

export interface ConsoleHooks {
  /** Every chunk the guest writes to its console. */
  onOutput(chunk: Buffer): void
  /** The user typed the escape sequence (interactive mode). */
  onEscape(): void
}

export interface AttachedConsole {
  /** Whether our terminal is in raw mode (status lines then need CRLF). */
  readonly raw: boolean
  detach(): void
}

export function attachConsole(mode: ConsoleMode, qemu: ChildProcess, hooks: ConsoleHooks): AttachedConsole {
  const stdin = process.stdin
  // Our stdout may be closed under us (a pipe reader going away): the VM keeps running.
  const onStdoutError = (): void => undefined
  process.stdout.on('error', onStdoutError)
  qemu.stdin?.on('error', () => undefined)
  qemu.stdout?.on('data', (chunk: Buffer) => {
    hooks.onOutput(chunk)
    process.stdout.write(chunk)
  })

  if (mode === 'read-only') {
    return { raw: false, detach: () => { process.stdout.off('error', onStdoutError) } }
  }

  const raw = mode === 'interactive' && stdin.isTTY
  if (raw) stdin.setRawMode(true)
  const escape = new EscapeDetector()
  const onInput = (chunk: Buffer): void => {
    if (raw && escape.feed(chunk, Date.now())) { hooks.onEscape(); return }
    qemu.stdin?.write(chunk)
  }
  stdin.on('data', onInput)
  stdin.resume()
  return {
    raw,
    detach: () => {
      stdin.off('data', onInput)
      if (raw) stdin.setRawMode(false)
      stdin.pause()
      process.stdout.off('error', onStdoutError)
    },
  }
}
