/**
 * The native pieces machined-spawn uses: the pty and pidfd calls of the
 * package's N-API module (native/machined_native.c), and the path of the
 * helper program (native/machined_spawn_helper.c). Both are built by
 * `npm ci`. The daemon's typed wrapper lives in src/backends/native.ts,
 * which this layer may not import (eslint layer rules), hence this small
 * second loader of the same module.
 * @module
 */

import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

export interface Pty {
  readonly master: number
  readonly slave: number
  /** e.g. /dev/pts/3 */
  readonly path: string
}

export interface PidfdWatch {
  close(): void
}

interface Addon {
  pidfdOpen(pid: number): number
  pidfdSendSignal(fd: number, signal: number): void
  pidfdWatch(fd: number, callback: () => void): PidfdWatch
  ptyOpen(): Pty
  ptySetWindowSize(fd: number, columns: number, rows: number): void
}

// The same relative paths from src/spawn (tsx) and dist/spawn (built).
const ADDON_PATH = '../../native/build/Release/machined_native.node'
export const HELPER_PATH = fileURLToPath(new URL('../../native/build/Release/machined-spawn-helper', import.meta.url))

let addon: Addon | undefined

function load(): Addon {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(ADDON_PATH) as Addon
    } catch (err) {
      throw new Error(`The native module is missing (${(err as Error).message}); run \`npm ci\` or \`npx node-gyp rebuild --directory=native\``, { cause: err })
    }
  }
  return addon
}

/** A new pty: machined-spawn keeps the master and the slave fd open while a container uses it. */
export function ptyOpen(): Pty {
  return load().ptyOpen()
}

export function ptySetWindowSize(fd: number, columns: number, rows: number): void {
  load().ptySetWindowSize(fd, columns, rows)
}

export function pidfdOpen(pid: number): number {
  return load().pidfdOpen(pid)
}

export function pidfdSendSignal(fd: number, signal: number): void {
  load().pidfdSendSignal(fd, signal)
}

/** Calls back once the process has exited; does not keep the event loop alive. */
export function pidfdWatch(fd: number, callback: () => void): PidfdWatch {
  return load().pidfdWatch(fd, callback)
}
