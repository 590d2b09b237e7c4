/**
 * Terminals in memory (the Terminals port): records what was asked for;
 * ptys are numbered from 0 and their master "fds" (no fds of this
 * process) from 1000. A leader that is gone gets none, as the real port
 * cannot enter its namespaces.
 * @module
 */

import { FailedError } from '../../src/protocol/errors.ts'
import type { MachinePty, ProcessRef, ShellSpec, Terminals } from '../../src/core/ports.ts'
import type { FakeProcesses } from './processes.ts'

export class FakeTerminals implements Terminals {
  readonly #processes: FakeProcesses
  readonly opened: { kind: 'pty' | 'login' | 'shell'; leader: number | undefined; spec?: ShellSpec }[] = []
  /** Thrown by the next open, once. */
  failNext: Error | undefined = undefined

  constructor(processes: FakeProcesses) {
    this.#processes = processes
  }

  async openPty(leader: ProcessRef | undefined): Promise<MachinePty> {
    return this.#open('pty', leader)
  }

  async openLogin(leader: ProcessRef | undefined): Promise<MachinePty> {
    return this.#open('login', leader)
  }

  async openShell(leader: ProcessRef | undefined, spec: ShellSpec): Promise<MachinePty> {
    return this.#open('shell', leader, spec)
  }

  async #open(kind: 'pty' | 'login' | 'shell', leader: ProcessRef | undefined, spec?: ShellSpec): Promise<MachinePty> {
    const err = this.failNext
    this.failNext = undefined
    if (err !== undefined) throw err
    if (leader !== undefined && !(await this.#processes.isAlive(leader))) throw new FailedError(`Failed to open pseudo terminal: /proc/${leader.pid}/root: No such file or directory`)
    const n = this.opened.length
    this.opened.push({ kind, leader: leader?.pid, ...(spec === undefined ? {} : { spec }) })
    return { master: 1000 + n, path: `/dev/pts/${n}` }
  }
}
