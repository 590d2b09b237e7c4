// The Terminals contract (terminals.case.ts) against FakeTerminals and
// against MachineTerminals (the machined-enter helper). Needs root.
import { closeSync } from 'node:fs'
import { MachineTerminals } from '../../src/backends/terminals.ts'
import type { Log } from '../../src/core/ports.ts'
import { FakeTerminals } from '../fakes/terminals.ts'
import { runContract } from './contract.ts'
import { fakeLeaders, realLeaders } from './leaders.ts'
import { terminalsCases } from './terminals.case.ts'

const quiet: Log = { debug() {}, info() {}, warn() {}, error() {} }

runContract('Terminals: FakeTerminals', terminalsCases, async () => {
  const leaders = fakeLeaders()
  return { ...leaders, terminals: new FakeTerminals(leaders.processes), closeFd: () => undefined }
}, 'fake')

runContract('Terminals: MachineTerminals', terminalsCases, async () => {
  const leaders = realLeaders()
  // Opening a bare pty needs no bus; a bus nobody listens on says so if that ever changes.
  return { ...leaders, terminals: new MachineTerminals({ hostBusAddress: 'unix:path=/nonexistent', log: quiet }), closeFd: (fd: number) => closeSync(fd) }
}, 'real')
