// The Units contract (units.case.ts) against FakeUnits over FakeProcesses,
// and against CgroupUnits in the host's real cgroup tree (as the daemon
// runs without systemd as PID 1), with real child processes; that one
// needs root.
// Cgroups are not namespaced: scope names carry this run's PID, and every
// scope made here is released and gone before the case ends.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Log } from '../../src/core/ports.ts'
import { detectCgroupLayout } from '../../src/linux/cgroup-layout.ts'
import { CgroupUnits } from '../../src/backends/cgroup-units.ts'
import { ProcfsProcesses } from '../../src/backends/procfs.ts'
import { FakeProcesses } from '../fakes/processes.ts'
import { FakeUnits } from '../fakes/units.ts'
import { Children } from './children.ts'
import { eventually, runContract } from './contract.ts'
import { unitsCases, type UnitsHarness } from './units.case.ts'

let serial = 0
const scopeName = (tag: string): string => `machined-contract-${process.pid}-${++serial}-${tag}.scope`

runContract('Units: FakeUnits', unitsCases, async (): Promise<UnitsHarness> => {
  const processes = new FakeProcesses()
  const units = new FakeUnits(processes)
  let nextPid = 3000
  return {
    units,
    scopeName,
    start: async () => processes.spawn(nextPid++, { terminatedBy: [15] }),
    end: async (pid) => processes.exit(pid),
    exited: (pid) => eventually(`process ${pid} exits`, () => !processes.isLive(pid)),
    isRunning: (pid) => processes.isLive(pid),
    moveBelow: async (pid, ref, sub) => { units.place(pid, ref.unit, `${ref.cgroup}/${sub}`) },
    dispose: async () => undefined,
  }
}, 'fake')

const quiet: Log = { debug() {}, info() {}, warn() {}, error() {} }

runContract('Units: CgroupUnits', unitsCases, async (): Promise<UnitsHarness> => {
  const layout = detectCgroupLayout()
  if (layout === undefined) throw new Error('No cgroup hierarchy is mounted')
  const tracking = layout.unified ?? layout.systemdV1!
  const runtimeDir = mkdtempSync(join(tmpdir(), 'units-contract-'))
  const units = new CgroupUnits({ layout, runtimeDir, log: quiet })
  const processes = new ProcfsProcesses({ pidfds: false })
  const children = new Children()
  return {
    units,
    scopeName,
    start: async () => (await processes.pin(await children.start()))!,
    end: (pid) => children.end(pid),
    exited: (pid) => children.exited(pid),
    isRunning: (pid) => children.isRunning(pid),
    moveBelow: async (pid, ref, sub) => {
      const dir = join(tracking, ref.cgroup, sub)
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, 'cgroup.procs'), `${pid}\n`)
    },
    dispose: async () => {
      await children.dispose()
      // Everything this harness made goes: released, and removed once empty.
      for (const ref of await units.leftoverScopes()) await units.release(ref)
      await eventually('every scope made here is gone', async () => (await units.leftoverScopes()).length === 0)
      units.dispose()
      rmSync(runtimeDir, { recursive: true, force: true })
    },
  }
}, 'real, as root')
