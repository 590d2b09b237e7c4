// machined-ts under OpenRC (Alpine, Gentoo, Devuan): a Debian guest booted
// with openrc-init as PID 1 (helpers/openrc-guest.ts), where `machined
// install-service` installs the init script and the Exec= D-Bus activation
// file, `rc-service` starts and stops the daemon, the bus starts it on the
// first call, and uninstall-service takes it all back.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { eventually } from '../helpers/sandbox.ts'
import { OpenrcGuest } from '../helpers/openrc-guest.ts'

const LIST_MACHINES = ['dbus-send', '--system', '--print-reply', '--dest=org.freedesktop.machine1', '/org/freedesktop/machine1', 'org.freedesktop.machine1.Manager.ListMachines']
const VARLINK_SOCKET = '/run/systemd/machine/io.systemd.Machine'

void describe('machined-ts under OpenRC', { timeout: 600_000 }, () => {
  let guest: OpenrcGuest
  const status = async (): Promise<string> => (await guest.enter(['rc-service', 'machined-ts', 'status'])).stdout.trim()
  // The daemon itself (node), not supervise-daemon, whose command line names it too.
  const daemons = async (): Promise<string[]> => (await guest.enter(['pgrep', '-f', `^${guest.machinedCommand.join(' ')}`])).stdout.split('\n').filter((l) => l !== '')

  before(async () => {
    guest = await OpenrcGuest.start()
  })

  after(async () => {
    await guest?.stop()
  })

  it('install-service installs the init script, its configuration and Exec= D-Bus activation, and adds it to the default runlevel', async () => {
    const r = await guest.enter([...guest.machinedCommand, 'install-service'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^Init system: openrc \(detected\)$/m)
    for (const path of ['/etc/init.d/machined-ts', '/etc/conf.d/machined-ts', '/usr/local/share/dbus-1/system-services/org.freedesktop.machine1.service', '/etc/dbus-1/system.d/org.freedesktop.machine1.conf']) {
      assert.match(r.stdout, new RegExp(`^Installed ${path.replace(/\./g, '\\.')}$`, 'm'))
    }
    assert.match(r.stdout, /^Ran rc-update add machined-ts default$/m)
    assert.match((await guest.enter(['rc-update', 'show', 'default'])).stdout, /^\s*machined-ts \| default\s*$/m)
    const again = await guest.enter([...guest.machinedCommand, 'install-service'])
    assert.doesNotMatch(again.stdout, /^(Installed|Updated) /m)
    assert.match(again.stdout, /^Kept \/etc\/conf\.d\/machined-ts \(configuration\)$/m)
  })

  it('rc-service starts the daemon (started means serving) and stops it cleanly', async () => {
    const start = await guest.enter(['rc-service', 'machined-ts', 'start'])
    assert.equal(start.code, 0, `${start.stdout}${start.stderr}`)
    assert.equal(await status(), '* status: started')
    // start_post waited for the Varlink socket: both transports answer now.
    assert.equal((await guest.enter(['test', '-S', VARLINK_SOCKET])).code, 0)
    const list = await guest.enter(LIST_MACHINES)
    assert.equal(list.code, 0, list.stderr)
    assert.equal((await daemons()).length, 1)
    const stop = await guest.enter(['rc-service', 'machined-ts', 'stop'])
    assert.equal(stop.code, 0, `${stop.stdout}${stop.stderr}`)
    assert.equal(await status(), '* status: stopped')
    assert.deepEqual(await daemons(), [])
    const log = guest.readFile('/var/log/machined-ts.log')
    assert.match(log, /msg="Serving org\.freedesktop\.machine1"/)
    assert.match(log, /msg="Stopping; machines stay registered on disk" signal=SIGTERM/)
    assert.notEqual((await guest.enter(['test', '-e', VARLINK_SOCKET])).code, 0)
  })

  it('is started by the bus on the first call while OpenRC has it stopped', async () => {
    assert.deepEqual(await daemons(), [])
    const list = await guest.enter(LIST_MACHINES)
    assert.equal(list.code, 0, list.stderr)
    const pids = await daemons()
    assert.equal(pids.length, 1)
    assert.equal((await guest.enter(['kill', pids[0]!])).code, 0)
    await eventually(async () => (await daemons()).length === 0, 10_000, 'the activated daemon to stop')
  })

  it('uninstall-service stops and removes it all; a second run finds nothing to do', async () => {
    assert.equal((await guest.enter(['rc-service', 'machined-ts', 'start'])).code, 0)
    const r = await guest.enter([...guest.machinedCommand, 'uninstall-service'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^Ran rc-service machined-ts stop$/m)
    assert.match(r.stdout, /^Ran rc-update del machined-ts default$/m)
    for (const path of ['/etc/init.d/machined-ts', '/etc/conf.d/machined-ts', '/usr/local/share/dbus-1/system-services/org.freedesktop.machine1.service', '/etc/dbus-1/system.d/org.freedesktop.machine1.conf']) {
      assert.match(r.stdout, new RegExp(`^Removed ${path.replace(/\./g, '\\.')}$`, 'm'))
      assert.notEqual((await guest.enter(['test', '-e', path])).code, 0, path)
    }
    assert.deepEqual(await daemons(), [])
    const twice = await guest.enter([...guest.machinedCommand, 'uninstall-service'])
    assert.equal(twice.code, 0, twice.stderr)
    assert.doesNotMatch(twice.stdout, /^(Removed|Ran) /m)
  })
})
