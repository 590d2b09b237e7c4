// The StateStore contract (state-store.case.ts) against FakeStateStore
// and against StateDir on a fresh temporary directory.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StateDir } from '../../src/backends/state-dir.ts'
import { FakeStateStore } from '../fakes/state-store.ts'
import { runContract } from './contract.ts'
import { stateStoreCases } from './state-store.case.ts'

runContract('StateStore: FakeStateStore', stateStoreCases, async () => ({ state: new FakeStateStore(), dispose: async () => undefined }), 'fake')

runContract('StateStore: StateDir', stateStoreCases, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'state-contract-'))
  return { state: new StateDir(join(dir, 'machines')), dispose: async () => rmSync(dir, { recursive: true, force: true }) }
}, 'real')
