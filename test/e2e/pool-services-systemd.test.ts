// Machines from images, as services, on a host whose PID 1 is systemd (the
// systemd guest): `mctl start/enable/disable` go through the template units
// machined-spawn@NAME.service exactly as machinectl goes through
// systemd-nspawn@NAME.service (StartUnit and its job, EnableUnitFiles with
// machines.target, DisableUnitFiles); systemd then runs, logs and stops
// them, and `mctl poweroff` stops the unit's container.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { installBusyboxTree } from '../helpers/busybox-tree.ts'
import { eventually, REPO } from '../helpers/sandbox.ts'
import { NODE } from '../helpers/nspawn-guest.ts'
import { SystemdGuest } from '../helpers/systemd-guest.ts'

void describe('mctl start/enable on a systemd host: machined-spawn@NAME.service', { timeout: 600_000 }, () => {
  let guest: SystemdGuest
  const mctl = (...args: string[]) => guest.enter([NODE, join(REPO, 'bin/mctl.js'), ...args], { timeoutMs: 120_000 })
  const unitState = async (unit: string): Promise<string> => (await guest.enter(['systemctl', 'show', unit, '-p', 'ActiveState', '--value'])).stdout.trim()

  before(async () => {
    guest = await SystemdGuest.start()
    await guest.installMachined()
    installBusyboxTree(guest.hostPath('/var/lib/machines/bb'))
  })

  after(async () => {
    await guest?.stop()
  })

  it('start runs machined-spawn@NAME.service and returns once it is registered; status names the image; poweroff stops the unit', async () => {
    const r = await mctl('start', 'bb')
    assert.deepEqual(r, { code: 0, stdout: '', stderr: '' }, (await guest.enter(['journalctl', '--no-pager', '-u', 'machined-spawn@bb.service'])).stdout)
    assert.equal(await unitState('machined-spawn@bb.service'), 'active')
    assert.match((await guest.enter(['machinectl', 'list', '--no-legend'])).stdout, /^bb +container machined-spawn /m)
    const status = await mctl('status', 'bb')
    assert.match(status.stdout, /^\t    Unit: machined-spawn@bb\.service$/m)
    assert.match(status.stdout, /^\t   Image: bb \(\/var\/lib\/machines\/bb\)$/m)
    // Started again: StartUnit on an active unit, nothing to do.
    assert.equal((await mctl('start', 'bb')).code, 0)
    assert.equal((await mctl('poweroff', 'bb')).code, 0)
    await eventually(async () => (await unitState('machined-spawn@bb.service')) === 'inactive', 20_000, 'the unit to stop')
    assert.equal((await guest.enter(['machinectl', 'list', '--no-legend'])).stdout, '')
  })

  it('enable and disable the unit as machinectl does (with machines.target); missing images fail first', async () => {
    assert.deepEqual(await mctl('enable', 'bb'), { code: 0, stdout: '', stderr: '' })
    assert.equal((await guest.enter(['systemctl', 'is-enabled', 'machined-spawn@bb.service'])).stdout.trim(), 'enabled')
    assert.equal((await guest.enter(['systemctl', 'is-enabled', 'machines.target'])).stdout.trim(), 'enabled')
    assert.equal(await unitState('machined-spawn@bb.service'), 'inactive', 'enable does not start')
    assert.deepEqual(await mctl('disable', 'bb'), { code: 0, stdout: '', stderr: '' })
    assert.equal((await guest.enter(['systemctl', 'is-enabled', 'machined-spawn@bb.service'])).stdout.trim(), 'disabled')
    assert.deepEqual(await mctl('enable', 'nope'), { code: 1, stdout: '', stderr: "Machine image 'nope' does not exist.\n" })
  })
})
