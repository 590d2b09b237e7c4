/**
 * The native pieces machined-spawn uses: the pty calls of the package's
 * N-API module (native/addon/; the pidfd calls are shared with
 * the daemon in src/native/pidfd.ts). The daemon's typed wrapper lives in
 * src/backends/native.ts, which this layer may not import (eslint layer
 * rules), hence this small second view of the same module.
 * @module
 */

import { loadAddon } from '../native/addon.ts'

export { pidfdOpen, pidfdSendSignal, pidfdWatch, type PidfdWatch } from '../native/pidfd.ts'

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

function load(): Addon {
  return loadAddon<Addon>()
}

/** A new pty: machined-spawn keeps the master and the slave fd open while a container uses it. */
export function ptyOpen(): Pty {
  return load().ptyOpen()
}

export function ptySetWindowSize(fd: number, columns: number, rows: number): void {
  load().ptySetWindowSize(fd, columns, rows)
}
