/**
 * Starting qemu. Two things vmspawn gets from its fork helper
 * (FORK_DEATHSIG_SIGTERM, its own process group) that Node's spawn()
 * lacks: qemu must die with the launcher, so a `kill -9` of the launcher
 * leaves no VM running unsupervised — util-linux's `setpriv --pdeathsig`
 * sets that up before exec'ing qemu; and a terminal's ^C must reach the
 * launcher only (which turns SIGINT into a guest reset), not qemu, which
 * would quit on it — qemu gets a session of its own.
 * @module
 */

import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

/** The first fd number passFds get in qemu. */
export const QEMU_PASSED_FD_FIRST = 3

function findSetpriv(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    try {
      accessSync(join(dir, 'setpriv'), constants.X_OK)
      return join(dir, 'setpriv')
    } catch { /* not here */ }
  }
  return undefined
}

/**
 * The qemu process with piped stdio: stdin and stdout are the serial
 * console, stderr qemu's messages. `passFds` become qemu's fds 3, 4, …
 * (QEMU_PASSED_FD_FIRST and on), in order.
 */
export function spawnQemu(argv: readonly string[], passFds: readonly number[] = []): ChildProcess {
  const setpriv = findSetpriv()
  // Without setpriv (not on a Debian system, where util-linux is essential) qemu still runs, only without the death signal.
  const full = setpriv === undefined ? [...argv] : [setpriv, '--pdeathsig', 'KILL', '--', ...argv]
  return spawn(full[0]!, full.slice(1), {
    stdio: ['pipe', 'pipe', 'pipe', ...passFds],
    detached: true,
    // vmspawn sets these for qemu when missing.
    env: { TERM: 'vt220', LANG: 'C.UTF-8', ...process.env },
  })
}

export interface QemuExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /**
   * The signal qemu caught and quit on: it exits 0 then, after printing
   * "terminating on signal N from pid P" (qemu_system_killed()).
   */
  readonly terminatedBy?: number | undefined
}

/** The signal number in qemu's "terminating on signal N" message, if this stderr text has one. */
export function terminatingSignal(stderr: string): number | undefined {
  const m = /terminating on signal (\d+)/.exec(stderr)
  return m === null ? undefined : Number(m[1])
}

/**
 * Resolves once qemu has exited and its console output has all been read
 * ('close', not 'exit': the last lines — "reboot: Power down" — come late).
 */
export function closed(child: ChildProcess): Promise<QemuExit> {
  return new Promise((resolve) => child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal })))
}
