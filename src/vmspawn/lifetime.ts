/**
 * What the launcher does with qemu over the VM's life, as a small state
 * machine with its effects injected (unit-tested without qemu). The
 * launcher is the machine's leader, as vmspawn is, so machinectl's signals
 * arrive here and are turned into what they mean for a VM:
 *
 *   SIGRTMIN+4 (`machinectl poweroff`) → ACPI power button (QMP system_powerdown)
 *   SIGINT     (`machinectl reboot`)   → reset (QMP system_reset)
 *   SIGTERM                            → power button, then SIGKILL to qemu
 *                                        after the timeout; a second SIGTERM
 *                                        kills at once (vmspawn: "Send SIGTERM
 *                                        again to trigger vmspawn to
 *                                        immediately terminate")
 *   Ctrl-] ×3 on an interactive console → qemu is stopped (vmspawn's ptyfwd escape)
 *
 * The launcher exits when qemu does, with qemu's status.
 * @module
 */

import { constants } from 'node:os'
import type { QemuExit } from './qemu-process.ts'
import type { LauncherSignal } from './signals.ts'

export interface LifetimeEffects {
  powerdown(): Promise<void>
  reset(): Promise<void>
  kill(signal: NodeJS.Signals): void
  log(message: string): void
  /** Runs `fn` after `ms`; the result cancels it. */
  setTimer(ms: number, fn: () => void): () => void
}

/**
 * The launcher's exit status for how qemu ended: qemu's own code (0 once
 * the guest powered off; 1 when qemu failed), or 128+N when qemu died of
 * signal N — or caught it and quit, which qemu does with status 0 — as a
 * shell reports a signal.
 */
export function exitStatusOf(exit: QemuExit): number {
  if (exit.code === 0 && exit.terminatedBy !== undefined) return 128 + exit.terminatedBy
  if (exit.code !== null) return exit.code
  if (exit.signal !== null) return 128 + (constants.signals[exit.signal] ?? 0)
  return 1
}

export class Lifetime {
  readonly #fx: LifetimeEffects
  readonly #timeoutMs: number
  #terminating = false
  #cancelTimer: (() => void) | undefined
  #over = false

  constructor(effects: LifetimeEffects, shutdownTimeoutMs: number) {
    this.#fx = effects
    this.#timeoutMs = shutdownTimeoutMs
  }

  onSignal(signal: LauncherSignal): void {
    if (this.#over) return
    switch (signal) {
      case 'poweroff':
        this.#fx.log('Powering off the guest (ACPI power button).')
        this.#fx.powerdown().catch((err: unknown) => {
          // No monitor to press the button with: stopping qemu is all that is left.
          this.#fx.log(`Failed to power off the guest (${(err as Error).message}); stopping qemu.`)
          this.#fx.kill('SIGTERM')
        })
        return
      case 'reboot':
        this.#fx.log('Resetting the guest.')
        this.#fx.reset().catch((err: unknown) => this.#fx.log(`Failed to reset the guest, ignoring: ${(err as Error).message}`))
        return
      case 'terminate':
        this.#terminate()
    }
  }

  #terminate(): void {
    if (this.#terminating) {
      this.#fx.log('SIGTERM again: killing qemu.')
      this.#fx.kill('SIGKILL')
      return
    }
    this.#terminating = true
    const seconds = this.#timeoutMs / 1000
    this.#fx.log(`Powering off the guest; qemu is killed if it is still running in ${seconds}s (SIGTERM again kills it now).`)
    this.#cancelTimer = this.#fx.setTimer(this.#timeoutMs, () => {
      this.#fx.log(`The guest did not power off within ${seconds}s: killing qemu.`)
      this.#fx.kill('SIGKILL')
    })
    this.#fx.powerdown().catch((err: unknown) => {
      this.#fx.log(`Failed to power off the guest (${(err as Error).message}): killing qemu.`)
      this.#fx.kill('SIGKILL')
    })
  }

  onEscape(): void {
    if (this.#over) return
    this.#fx.log('Ctrl-] pressed three times: stopping the VM.')
    this.#fx.kill('SIGTERM')
  }

  /** qemu is gone: no more actions; the launcher's exit status. */
  onQemuExit(exit: QemuExit): number {
    this.#over = true
    this.#cancelTimer?.()
    return exitStatusOf(exit)
  }
}
