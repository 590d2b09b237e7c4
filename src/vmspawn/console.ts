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
import { attachInput } from '../linux/pty.ts'
import type { ConsoleMode } from './options.ts'

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

  // Pipe mode passes every byte on, Ctrl-] included.
  const raw = mode === 'interactive' && stdin.isTTY
  const detachInput = attachInput(stdin, { raw, escape: raw, onData: (chunk) => { qemu.stdin?.write(chunk) }, onEscape: () => hooks.onEscape() })
  return {
    raw,
    detach: () => {
      detachInput()
      process.stdout.off('error', onStdoutError)
    },
  }
}
