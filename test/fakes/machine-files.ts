/**
 * A container's files, in memory (the MachineFiles port): records what
 * was asked. A leader that is gone is FileNotFound, as the real port
 * answers; `failWith` makes the next requests fail.
 * @module
 */

import { FileNotFoundError } from '../../src/protocol/errors.ts'
import type { BindMountRequest, CopyRequest, MachineFiles, ProcessRef } from '../../src/core/ports.ts'
import type { FakeProcesses } from './processes.ts'

export class FakeMachineFiles implements MachineFiles {
  readonly #processes: FakeProcesses
  readonly copies: CopyRequest[] = []
  readonly mounts: BindMountRequest[] = []
  readonly opened: (ProcessRef | undefined)[] = []
  failWith: Error | undefined = undefined

  constructor(processes: FakeProcesses) {
    this.#processes = processes
  }

  async #check(leader: ProcessRef | undefined): Promise<void> {
    if (this.failWith !== undefined) throw this.failWith
    if (leader !== undefined && !(await this.#processes.isAlive(leader))) throw new FileNotFoundError()
  }

  /** "fds" are numbered from 101; they are no fds of this process. */
  async openRootDirectory(leader: ProcessRef | undefined): Promise<number> {
    await this.#check(leader)
    this.opened.push(leader)
    return 100 + this.opened.length
  }

  async copy(request: CopyRequest): Promise<void> {
    await this.#check(request.leader)
    this.copies.push(request)
  }

  async bindMount(request: BindMountRequest): Promise<void> {
    await this.#check(request.leader)
    this.mounts.push(request)
  }
}
