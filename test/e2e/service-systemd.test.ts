// machined-ts as the service of a host whose PID 1 is systemd (the systemd
// guest, helpers/systemd-guest.ts): `machined install-service` installs the
// shipped units, the unit starts the daemon (Type=notify: active only after
// READY=1), the watchdog is fed, `systemctl stop` is clean, the bus and the
// Varlink socket start it on the first call, a second daemon is refused
// with the owner named, and uninstall-service takes everything back.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { eventually, REPO } from '../helpers/sandbox.ts'
import { SystemdGuest } from '../helpers/systemd-guest.ts'

const UNIT = 'machined-ts.service'
const SOCKET_UNIT = 'machined-ts.socket'
const VARLINK_SOCKET = '/run/systemd/machine/io.systemd.Machine'
const GET_INFO = JSON.stringify({ op: 'calls', calls: [{ method: 'org.varlink.service.GetInfo' }] })
const LIST_MACHINES = ['busctl', 'call', 'org.freedesktop.machine1', '/org/freedesktop/machine1', 'org.freedesktop.machine1.Manager', 'ListMachines']

void describe('machined-ts.service on a systemd host', { timeout: 600_000 }, () => {
  let guest: SystemdGuest

  const show = async (unit: string, ...props: string[]): Promise<Record<string, string>> => {
    const r = await guest.enter(['systemctl', 'show', unit, ...props.flatMap((p) => ['-p', p])])
    return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  }
  const active = async (unit: string): Promise<string> => (await guest.enter(['systemctl', 'is-active', unit])).stdout.trim()
  const varlinkGetInfo = () => guest.enter(['python3', join(REPO, 'test/helpers/varlink-client.py'), VARLINK_SOCKET], { input: GET_INFO })
  const journal = async (unit: string): Promise<string> => (await guest.enter(['journalctl', '--no-pager', '-o', 'cat', '-u', unit])).stdout

  before(async () => {
    guest = await SystemdGuest.start()
  })

  after(async () => {
    await guest?.stop()
  })

  it('install-service installs the shipped units and says what it did; a second run changes nothing', async () => {
    const out = await guest.installMachined({ start: false })
    for (const path of ['/etc/systemd/system/machined-ts.service', '/etc/systemd/system/machined-ts.socket', '/etc/systemd/system/machined-spawn@.service',
      '/etc/systemd/system/machined-vmspawn@.service', '/usr/local/share/dbus-1/system-services/org.freedesktop.machine1.service']) {
      assert.match(out, new RegExp(`^Installed ${path.replace(/\./g, '\\.')}$`, 'm'))
    }
    assert.match(out, /^Init system: systemd \(detected\)$/m)
    assert.match(out, /^Kept systemd-machined\.service masked$/m)
    assert.match(out, /^Ran systemctl enable machined-ts\.service$/m)
    const again = await guest.enter([...guest.machinedCommand, 'install-service'])
    assert.equal(again.code, 0, again.stderr)
    assert.doesNotMatch(again.stdout, /^(Installed|Updated) /m)
    assert.equal((await guest.enter(['systemctl', 'is-enabled', UNIT])).stdout.trim(), 'enabled')
    assert.equal((await guest.enter(['systemctl', 'is-enabled', SOCKET_UNIT])).stdout.trim(), 'enabled')
    // Enabling pointed systemd's own D-Bus alias at us.
    assert.equal((await guest.enter(['readlink', '/etc/systemd/system/dbus-org.freedesktop.machine1.service'])).stdout.trim(), '/etc/systemd/system/machined-ts.service')
  })

  it('starts the daemon from the unit: active once READY=1 came, with its status line, serving both transports', async () => {
    const start = await guest.enter(['systemctl', 'start', UNIT])
    assert.equal(start.code, 0, start.stderr)
    const p = await show(UNIT, 'ActiveState', 'Type', 'StatusText', 'BusName', 'MainPID', 'NotifyAccess')
    assert.deepEqual({ ...p, MainPID: undefined }, {
      ActiveState: 'active', Type: 'notify', StatusText: 'Serving 0 machines on D-Bus and Varlink', BusName: 'org.freedesktop.machine1', NotifyAccess: 'main', MainPID: undefined,
    })
    const owner = await guest.enter(['busctl', 'status', '--no-pager', 'org.freedesktop.machine1'])
    assert.match(owner.stdout, new RegExp(`^PID=${p.MainPID}$`, 'm'))
    assert.match(owner.stdout, /^Unit=machined-ts\.service$/m)
    assert.equal((await guest.enter(LIST_MACHINES)).code, 0)
    const info = await varlinkGetInfo()
    assert.match(info.stdout, /"product": "machined-ts"/, info.stderr)
    assert.equal((await guest.enter(['machinectl', 'list', '--no-legend'])).code, 0)
  })

  it('feeds the watchdog (WatchdogSec= from the unit, here shortened by a drop-in)', async () => {
    guest.writeFile('/etc/systemd/system/machined-ts.service.d/watchdog.conf', '[Service]\nWatchdogSec=2s\n')
    assert.equal((await guest.enter(['systemctl', 'daemon-reload'])).code, 0)
    assert.equal((await guest.enter(['systemctl', 'restart', UNIT])).code, 0)
    const first = (await show(UNIT, 'WatchdogTimestampMonotonic')).WatchdogTimestampMonotonic
    const later = await eventually(async () => {
      const t = (await show(UNIT, 'WatchdogTimestampMonotonic')).WatchdogTimestampMonotonic
      return t !== first && t !== '0' ? t : undefined
    }, 10_000, 'a WATCHDOG=1 after READY=1')
    assert.ok(Number(later) > Number(first))
    // Three whole intervals later it was never killed for a missed ping.
    await new Promise((r) => setTimeout(r, 6000))
    const p = await show(UNIT, 'ActiveState', 'NRestarts', 'Result')
    assert.deepEqual(p, { ActiveState: 'active', NRestarts: '0', Result: 'success' })
    guest.writeFile('/etc/systemd/system/machined-ts.service.d/watchdog.conf', '')
    await guest.enter(['systemctl', 'daemon-reload'])
  })

  it('refuses a second daemon, naming the running one, and leaves it serving', async () => {
    const pid = (await show(UNIT, 'MainPID')).MainPID
    const second = await guest.run([...guest.machinedCommand])
    assert.equal(second.code, 1)
    assert.match(second.stderr, new RegExp(`org\\.freedesktop\\.machine1 is already owned by :1\\.\\d+, PID ${pid}, ${process.execPath} ${join(REPO, 'bin/machined.js')} --no-embedded-bus; stop it first`))
    assert.equal(await active(UNIT), 'active')
    assert.match((await varlinkGetInfo()).stdout, /"product": "machined-ts"/)
  })

  it('stops cleanly on systemctl stop: exit status 0, nothing left running, its Varlink socket gone', async () => {
    const stop = await guest.enter(['systemctl', 'stop', UNIT])
    assert.equal(stop.code, 0, stop.stderr)
    const p = await show(UNIT, 'ActiveState', 'Result', 'ExecMainCode', 'ExecMainStatus', 'MainPID', 'ControlGroup')
    assert.deepEqual(p, { ActiveState: 'inactive', Result: 'success', ExecMainCode: '1', ExecMainStatus: '0', MainPID: '0', ControlGroup: '' })
    assert.match(await journal(UNIT), /msg="Stopping; machines stay registered on disk" signal=SIGTERM/)
    assert.notEqual((await guest.enter(['test', '-e', VARLINK_SOCKET])).code, 0)
  })

  it('is started by the bus on the first D-Bus call', async () => {
    assert.equal(await active(UNIT), 'inactive')
    const list = await guest.enter(LIST_MACHINES)
    assert.equal(list.code, 0, list.stderr)
    // The bus name is taken before READY=1 (sent once Varlink serves too): the answer can come while the unit is still activating.
    await eventually(async () => await active(UNIT) === 'active', 10_000, `${UNIT} to become active`)
    assert.match((await guest.enter(['journalctl', '--no-pager', '-o', 'cat', '-u', 'dbus.service'])).stdout, /Activating via systemd: service name='org\.freedesktop\.machine1' unit='machined-ts\.service'/)
    assert.equal((await guest.enter(['systemctl', 'stop', UNIT])).code, 0)
  })

  it('is started by machined-ts.socket on the first Varlink connection, and serves the socket it is passed', async () => {
    assert.equal((await guest.enter(['systemctl', 'start', SOCKET_UNIT])).code, 0)
    assert.equal(await active(UNIT), 'inactive')
    const info = await varlinkGetInfo()
    assert.match(info.stdout, /"product": "machined-ts"/, info.stderr)
    // The passed socket is served before the bus name is taken, so the first answer can come
    // while the unit is still activating: READY=1 follows once both transports serve.
    await eventually(async () => await active(UNIT) === 'active', 10_000, `${UNIT} to become active`)
    assert.match(await journal(UNIT), /msg="Serving Varlink on the socket passed by the service manager" fd=3/)
    // Stopping the service leaves the socket with systemd, listening for the next caller.
    assert.equal((await guest.enter(['systemctl', 'stop', UNIT])).code, 0)
    assert.equal(await active(SOCKET_UNIT), 'active')
    assert.match((await varlinkGetInfo()).stdout, /"product": "machined-ts"/)
    assert.equal((await guest.enter(['systemctl', 'stop', SOCKET_UNIT, UNIT])).code, 0)
    assert.notEqual((await guest.enter(['test', '-e', VARLINK_SOCKET])).code, 0)
  })

  it('uninstall-service takes it all back, and a second run finds nothing to do', async () => {
    const out = await guest.enter([...guest.machinedCommand, 'uninstall-service'])
    assert.equal(out.code, 0, out.stderr)
    assert.match(out.stdout, /^Ran systemctl disable --now machined-ts\.socket machined-ts\.service$/m)
    for (const path of ['/etc/systemd/system/machined-ts.service', '/etc/systemd/system/machined-ts.socket', '/etc/systemd/system/machined-spawn@.service',
      '/etc/systemd/system/machined-vmspawn@.service', '/usr/local/share/dbus-1/system-services/org.freedesktop.machine1.service']) {
      assert.match(out.stdout, new RegExp(`^Removed ${path.replace(/\./g, '\\.')}$`, 'm'))
      assert.notEqual((await guest.enter(['test', '-e', path])).code, 0, path)
    }
    assert.match(out.stdout, /^Ran systemctl unmask systemd-machined\.service$/m)
    assert.equal((await guest.enter(['systemctl', 'is-enabled', 'systemd-machined.service'])).stdout.trim(), 'static')
    assert.notEqual((await guest.enter(['test', '-e', '/etc/systemd/system/dbus-org.freedesktop.machine1.service'])).code, 0)
    const twice = await guest.enter([...guest.machinedCommand, 'uninstall-service'])
    assert.equal(twice.code, 0, twice.stderr)
    assert.doesNotMatch(twice.stdout, /^(Removed|Ran systemctl unmask) /m)
  })
})
