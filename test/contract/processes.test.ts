// The Processes contract (processes.case.ts) against FakeProcesses and
// against ProcfsProcesses on real child processes. One case needs root
// there: a child runs as nobody.
import { openSync } from 'node:fs'
import { closeFd, pidfdOpen } from '../../src/backends/native.ts'
import { pidfsAvailable } from '../../src/backends/pidfd.ts'
import { ProcfsProcesses } from '../../src/backends/procfs.ts'
import { FakeProcesses } from '../fakes/processes.ts'
import { Children } from './children.ts'
import { runContract } from './contract.ts'
import { processesCases, type ProcessesHarness } from './processes.case.ts'

runContract('Processes: FakeProcesses', processesCases, async (): Promise<ProcessesHarness> => {
  const processes = new FakeProcesses()
  let nextPid = 3000
  return {
    processes,
    pidfs: true,
    start: async (options = {}) => {
      const pid = nextPid++
      processes.spawn(pid, { startTime: BigInt(pid) * 7n, pidfdId: 90_000 + pid, terminatedBy: [15], uid: options.uid ?? 0 })
      return pid
    },
    end: async (pid) => processes.exit(pid),
    openPidfd: (pid) => processes.openPidfd(pid),
    notAPidfd: () => 4,
    closeFd: () => undefined,
    dispose: async () => undefined,
  }
}, 'fake')

// The kernel decides which branch of the pidfd-inode case runs; the title says which one did.
const PIDFS = pidfsAvailable()

runContract(`Processes: ProcfsProcesses, on a kernel ${PIDFS ? 'with pidfs' : 'without pidfs (before Linux 6.9)'}`, processesCases, async (): Promise<ProcessesHarness> => {
  const processes = new ProcfsProcesses()
  const children = new Children()
  return {
    processes,
    pidfs: PIDFS,
    start: (options) => children.start(options),
    end: (pid) => children.end(pid),
    openPidfd: (pid) => pidfdOpen(pid),
    notAPidfd: () => openSync('/dev/null', 'r'),
    closeFd: (fd) => closeFd(fd),
    dispose: async () => {
      await children.dispose()
      processes.dispose()
    },
  }
}, 'real')
