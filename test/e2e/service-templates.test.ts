// The template units on a systemd host (the systemd guest): a container
// from the pool, /var/lib/machines/NAME, runs as machined-spawn@NAME.service
// (what systemd-nspawn@.service is to nspawn), and a VM as
// machined-vmspawn@NAME.service; both register through machined-ts, which
// runs from its own unit, and go away with `systemctl stop`.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { installBusyboxTree } from '../helpers/busybox-tree.ts'
import { eventually } from '../helpers/sandbox.ts'
import { SystemdGuest } from '../helpers/systemd-guest.ts'
import { vmImage } from '../helpers/vm.ts'

void describe('machined-spawn@ and machined-vmspawn@ on a systemd host', { timeout: 600_000 }, () => {
  let guest: SystemdGuest

  const show = async (unit: string, ...props: string[]): Promise<Record<string, string>> => {
    const r = await guest.enter(['systemctl', 'show', unit, ...props.flatMap((p) => ['-p', p])])
    return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  }
  const machines = async (): Promise<string[]> => (await guest.enter(['machinectl', 'list', '--no-legend'])).stdout.split('\n').filter((l) => l.trim() !== '').map((l) => l.trim().split(/\s+/).slice(0, 3).join(' '))

  before(async () => {
    guest = await SystemdGuest.start()
    await guest.installMachined()
  })

  after(async () => {
    await guest?.stop()
  })

  it('boots a pool container as machined-spawn@NAME.service, registered and in the unit\'s cgroup, until systemctl stop', async () => {
    installBusyboxTree(guest.hostPath('/var/lib/machines/bb'))
    const start = await guest.enter(['systemctl', 'start', 'machined-spawn@bb.service'])
    assert.equal(start.code, 0, `${start.stderr}\n${(await guest.enter(['journalctl', '--no-pager', '-u', 'machined-spawn@bb.service'])).stdout}`)
    // Type=notify: started means READY=1 came, once the container ran.
    assert.deepEqual(await show('machined-spawn@bb.service', 'ActiveState', 'StatusText', 'Slice'), { ActiveState: 'active', StatusText: 'Container running.', Slice: 'machine.slice' })
    assert.deepEqual(await machines(), ['bb container machined-spawn'])
    const status = await guest.enter(['machinectl', 'show', 'bb', '-p', 'Unit', '-p', 'Leader', '-p', 'RootDirectory'])
    assert.match(status.stdout, /^Unit=machined-spawn@bb\.service$/m)
    assert.match(status.stdout, /^RootDirectory=\/var\/lib\/machines\/bb$/m)
    const leader = /^Leader=(\d+)$/m.exec(status.stdout)![1]!
    // --keep-unit: the container lives below the service's own cgroup, as nspawn's payload.
    assert.equal((await guest.enter(['cat', `/proc/${leader}/cgroup`])).stdout.split('\n').find((l) => l.startsWith('0::')), '0::/machine.slice/machined-spawn@bb.service/payload')
    // The host side of --network-veth.
    assert.equal((await guest.enter(['ip', 'link', 'show', 've-bb'])).code, 0)
    const stop = await guest.enter(['systemctl', 'stop', 'machined-spawn@bb.service'])
    assert.equal(stop.code, 0, stop.stderr)
    assert.deepEqual(await show('machined-spawn@bb.service', 'ActiveState', 'Result'), { ActiveState: 'inactive', Result: 'success' })
    await eventually(async () => (await machines()).length === 0, 10_000, 'bb to be unregistered')
  })

  it('runs a VM as machined-vmspawn@NAME.service (a kernel given by a drop-in), registered as class vm, until systemctl stop kills what does not power off', async () => {
    // The template boots /var/lib/machines/NAME.raw by firmware; the test image is a kernel, so a drop-in
    // replaces ExecStart=, as the template's comment tells admins to do. No root file system: the
    // kernel runs until stopped, which is all the unit needs to show.
    guest.copyIn(vmImage().kernel, '/var/lib/machines/vm.vmlinuz')
    const [node, bin] = guest.machinedCommand
    const vmspawn = join(bin!, '..', 'machined-vmspawn.js')
    guest.writeFile('/etc/systemd/system/machined-vmspawn@vm.service.d/kernel.conf',
      `[Service]\nExecStart=\nExecStart=${node} ${vmspawn} --quiet --console=read-only --kernel=/var/lib/machines/vm.vmlinuz --machine=%i --accel=tcg --ram=256M --vsock=no --shutdown-timeout=1\n`)
    assert.equal((await guest.enter(['systemctl', 'daemon-reload'])).code, 0)
    const start = await guest.enter(['systemctl', 'start', 'machined-vmspawn@vm.service'])
    assert.equal(start.code, 0, `${start.stderr}\n${(await guest.enter(['journalctl', '--no-pager', '-u', 'machined-vmspawn@vm.service'])).stdout}`)
    assert.deepEqual(await show('machined-vmspawn@vm.service', 'ActiveState', 'StatusText', 'Slice'), { ActiveState: 'active', StatusText: 'Virtual machine running.', Slice: 'machine.slice' })
    assert.deepEqual(await machines(), ['vm vm machined-vmspawn'])
    assert.match((await guest.enter(['machinectl', 'show', 'vm', '-p', 'Unit'])).stdout, /^Unit=machined-vmspawn@vm\.service$/m)
    const stop = await guest.enter(['systemctl', 'stop', 'machined-vmspawn@vm.service'])
    assert.equal(stop.code, 0, stop.stderr)
    // A kernel without a root file system cannot answer the ACPI power button: after
    // --shutdown-timeout qemu is killed, and the unit says so (status 128+9), as it should.
    assert.deepEqual(await show('machined-vmspawn@vm.service', 'ActiveState', 'Result', 'ExecMainStatus'), { ActiveState: 'failed', Result: 'exit-code', ExecMainStatus: '137' })
    // The guest's console shares the journal's lines: its last escape sequences may stand before ours on one line.
    // eslint-disable-next-line no-control-regex -- ESC starts the escape sequences it skips
    assert.match((await guest.enter(['journalctl', '--no-pager', '-o', 'cat', '-u', 'machined-vmspawn@vm.service'])).stdout, /(^|\x1b\[[0-9;?]*[A-Za-z]|\x1bc)machined-vmspawn: qemu died of SIGKILL\.$/m)
    await guest.enter(['systemctl', 'reset-failed', 'machined-vmspawn@vm.service'])
    await eventually(async () => (await machines()).length === 0, 10_000, 'vm to be unregistered')
  })
})
