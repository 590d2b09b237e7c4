// The MachineFiles contract (machine-files.case.ts) against
// FakeMachineFiles and against HelperMachineFiles (the machined-enter
// helper), with real child processes as leaders.
import { closeSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HelperMachineFiles } from '../../src/backends/machine-files.ts'
import { FakeMachineFiles } from '../fakes/machine-files.ts'
import { runContract } from './contract.ts'
import { fakeLeaders, realLeaders } from './leaders.ts'
import { machineFilesCases } from './machine-files.case.ts'

runContract('MachineFiles: FakeMachineFiles', machineFilesCases, async () => {
  const leaders = fakeLeaders()
  return { ...leaders, files: new FakeMachineFiles(leaders.processes), hostDir: '/nonexistent', closeFd: () => undefined }
}, 'fake')

runContract('MachineFiles: HelperMachineFiles', machineFilesCases, async () => {
  const leaders = realLeaders()
  const hostDir = mkdtempSync(join(tmpdir(), 'files-contract-'))
  return {
    ...leaders,
    files: new HelperMachineFiles({ processes: leaders.processes }),
    hostDir,
    closeFd: (fd: number) => closeSync(fd),
    dispose: async () => {
      await leaders.dispose()
      rmSync(hostDir, { recursive: true, force: true })
    },
  }
}, 'real')
