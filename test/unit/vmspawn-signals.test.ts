// The signals a VM's leader gets from machinectl reach the launcher as
// actions: SIGRTMIN+4 through the native signal pipe (Node cannot catch
// real-time signals), SIGINT and SIGTERM through process.on.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { SIGRTMIN_POWEROFF, watchSignals, type LauncherSignal } from '../../src/vmspawn/signals.ts'
import { eventually } from '../helpers/sandbox.ts'

describe('launcher signals', () => {
  test('SIGRTMIN+4 is poweroff (38 with glibc), SIGINT reboot, SIGTERM terminate; none kills us; dispose stops the handling', async () => {
    assert.equal(SIGRTMIN_POWEROFF, 38)
    const got: LauncherSignal[] = []
    const w = watchSignals((s) => got.push(s))
    process.kill(process.pid, SIGRTMIN_POWEROFF)
    await eventually(() => got.length === 1, 2000, 'poweroff')
    process.kill(process.pid, 'SIGINT')
    await eventually(() => got.length === 2, 2000, 'reboot')
    process.kill(process.pid, 'SIGTERM')
    await eventually(() => got.length === 3, 2000, 'terminate')
    assert.deepEqual(got, ['poweroff', 'reboot', 'terminate'])
    w.dispose()
    process.kill(process.pid, SIGRTMIN_POWEROFF)
    process.kill(process.pid, 'SIGTERM')
    await new Promise((r) => setTimeout(r, 200))
    assert.deepEqual(got, ['poweroff', 'reboot', 'terminate'], 'still alive, nothing more handled')
  })
})
