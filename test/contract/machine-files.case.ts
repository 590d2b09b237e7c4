/**
 * The MachineFiles port as the core relies on it, for what a test can set
 * up without a guest: a leader that is gone is FileNotFound for every
 * request (its PID may name another process by now, whose root must not
 * be reached), and the host's root directory is an fd the caller owns.
 * @module
 */

import assert from 'node:assert/strict'
import { FileNotFoundError } from '../../src/protocol/errors.ts'
import type { MachineFiles, ProcessRef } from '../../src/core/ports.ts'
import type { ContractCase, Harness } from './contract.ts'

export interface MachineFilesHarness extends Harness {
  readonly files: MachineFiles
  /** A directory on the host for copies. */
  readonly hostDir: string
  start(): Promise<ProcessRef>
  end(pid: number): Promise<void>
  closeFd(fd: number): void
}

export const machineFilesCases: readonly ContractCase<MachineFilesHarness>[] = [
  {
    name: 'a leader that is gone: its root directory, copies and bind mounts are FileNotFound',
    async run(h) {
      const leader = await h.start()
      await h.end(leader.pid)
      await assert.rejects(h.files.openRootDirectory(leader), FileNotFoundError)
      for (const direction of ['from', 'to'] as const) {
        await assert.rejects(h.files.copy({
          leader, direction, hostPath: `${h.hostDir}/file`, containerPath: '/tmp/file', uidShift: 0, replace: false,
        }), FileNotFoundError)
      }
      await assert.rejects(h.files.bindMount({
        leader, propagateDir: `${h.hostDir}/propagate`, incomingDir: '/run/host/incoming', source: h.hostDir, destination: '/mnt',
        readOnly: true, mkdir: false,
      }), FileNotFoundError)
    },
  },
  {
    name: 'the root directory of a live leader, and the host\'s, are fds for the caller',
    async run(h) {
      const leader = await h.start()
      for (const of of [leader, undefined]) {
        const fd = await h.files.openRootDirectory(of)
        assert.ok(Number.isInteger(fd) && fd >= 0)
        h.closeFd(fd)
      }
    },
  },
]
