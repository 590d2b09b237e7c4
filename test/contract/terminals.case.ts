/**
 * The Terminals port as the core relies on it, for what a test can set up
 * without a guest: a pty on the host (".host"), whose master is the
 * caller's and whose peer is named by its /dev/pts path; and no pty at all
 * for a leader that is gone.
 * @module
 */

import assert from 'node:assert/strict'
import type { ProcessRef, Terminals } from '../../src/core/ports.ts'
import type { ContractCase, Harness } from './contract.ts'

export interface TerminalsHarness extends Harness {
  readonly terminals: Terminals
  start(): Promise<ProcessRef>
  end(pid: number): Promise<void>
  closeFd(fd: number): void
}

export const terminalsCases: readonly ContractCase<TerminalsHarness>[] = [
  {
    name: 'a pty on the host: a master for the caller, and the path of its peer',
    async run(h) {
      const pty = await h.terminals.openPty(undefined)
      try {
        assert.ok(Number.isInteger(pty.master) && pty.master >= 0)
        assert.match(pty.path, /^\/dev\/pts\/\d+$/)
      } finally {
        h.closeFd(pty.master)
      }
    },
  },
  {
    name: 'a leader that is gone gets no pty',
    async run(h) {
      const leader = await h.start()
      await h.end(leader.pid)
      await assert.rejects(h.terminals.openPty(leader))
    },
  },
]
