// The Inspector contract (inspector.case.ts) against FakeInspector and
// against ProcfsInspector, with real child processes as leaders.
import { ProcfsInspector } from '../../src/backends/inspector.ts'
import { FakeInspector } from '../fakes/inspector.ts'
import { runContract } from './contract.ts'
import { inspectorCases } from './inspector.case.ts'
import { fakeLeaders, realLeaders } from './leaders.ts'

runContract('Inspector: FakeInspector', inspectorCases, async () => {
  const leaders = fakeLeaders()
  return { ...leaders, inspector: new FakeInspector(leaders.processes) }
}, 'fake')

runContract('Inspector: ProcfsInspector', inspectorCases, async () => {
  const leaders = realLeaders()
  return { ...leaders, inspector: new ProcfsInspector({ processes: leaders.processes }) }
}, 'real')
