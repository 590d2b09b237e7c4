/**
 * Leaders for the harnesses of ports that look into a machine through its
 * leader: fake processes, or real children pinned through /proc.
 * @module
 */

import type { ProcessRef } from '../../src/core/ports.ts'
import { ProcfsProcesses } from '../../src/backends/procfs.ts'
import { FakeProcesses } from '../fakes/processes.ts'
import { Children } from './children.ts'

export interface Leaders<P> {
  readonly processes: P
  /** Starts a leader in the host's namespaces. */
  start(): Promise<ProcessRef>
  end(pid: number): Promise<void>
  dispose(): Promise<void>
}

export function fakeLeaders(): Leaders<FakeProcesses> {
  const processes = new FakeProcesses()
  let nextPid = 3000
  return { processes, start: async () => processes.spawn(nextPid++), end: async (pid) => processes.exit(pid), dispose: async () => undefined }
}

export function realLeaders(): Leaders<ProcfsProcesses> {
  const processes = new ProcfsProcesses({ pidfds: false })
  const children = new Children()
  return {
    processes,
    start: async () => (await processes.pin(await children.start()))!,
    end: (pid) => children.end(pid),
    dispose: () => children.dispose(),
  }
}
