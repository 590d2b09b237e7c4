/**
 * The signals a VM's leader gets, as machinectl sends them
 * (KillMachine(name, "leader", sig)): `poweroff` → SIGRTMIN+4, `reboot` →
 * SIGINT; a service manager or `kill` stops us with SIGTERM. Node's
 * process.on() cannot catch real-time signals (their default action would
 * end the launcher and, through qemu's death signal, the VM without a
 * clean shutdown), so SIGRTMIN+4 comes through the native module's
 * signal pipe. Install this before registering: from then on anyone may
 * send them.
 * @module
 */

import { Socket } from 'node:net'
import { loadAddon } from '../native/addon.ts'

/** glibc's SIGRTMIN (the kernel's 32 and 33 belong to the C library): what machinectl means by SIGRTMIN+4. */
export const SIGRTMIN = 34
export const SIGRTMIN_POWEROFF = SIGRTMIN + 4

export type LauncherSignal = 'poweroff' | 'reboot' | 'terminate'

interface SignalAddon {
  signalPipe(signals: number[]): number
}

function addon(): SignalAddon {
  return loadAddon<SignalAddon>()
}

export interface SignalWatch {
  dispose(): void
}

export function watchSignals(handler: (s: LauncherSignal) => void): SignalWatch {
  let active = true
  const fd = addon().signalPipe([SIGRTMIN_POWEROFF])
  const pipe = new Socket({ fd, readable: true, writable: false })
  pipe.on('data', (bytes: Buffer) => {
    for (const b of bytes) if (active && b === SIGRTMIN_POWEROFF) handler('poweroff')
  })
  // The pipe alone must not keep the launcher alive.
  pipe.unref()
  const onInt = (): void => { if (active) handler('reboot') }
  const onTerm = (): void => { if (active) handler('terminate') }
  process.on('SIGINT', onInt)
  process.on('SIGTERM', onTerm)
  return {
    dispose: () => {
      // Handlers stay installed, ignoring what comes: a late signal must not fall back to its
      // default action (termination) while the launcher unregisters and cleans up. The C
      // handler keeps writing into the pipe, which stays open until exit.
      active = false
    },
  }
}
