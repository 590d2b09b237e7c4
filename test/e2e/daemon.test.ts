// The daemon as an admin runs it: with no system bus running it starts its
// own `dbus-daemon --system` and says where; with no bus policy for
// org.freedesktop.machine1 it installs one; it authorises callers itself
// (root changes machines, other users may only look); it answers on
// Machine objects and on /machine/self; --help and --version work.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { trackingHierarchy } from '../../src/linux/cgroup-layout.ts'
import { eventually, REPO, Sandbox } from '../helpers/sandbox.ts'
import { machineScopeCgroup } from '../helpers/cgroups.ts'
import { busctl, callManager, DEST, listMachineNames, registerMachine } from '../helpers/busctl.ts'

describe('the daemon', () => {
  it('--help and --version', () => {
    const help = spawnSync('npx', ['--no-install', 'machined', '--help'], { cwd: REPO, encoding: 'utf8' })
    assert.equal(help.status, 0)
    assert.match(help.stdout, /^machined \[OPTIONS\.\.\.\]/)
    const version = spawnSync('npx', ['--no-install', 'machined', '--version'], { cwd: REPO, encoding: 'utf8' })
    assert.equal(version.status, 0)
    assert.match(version.stdout, /^machined-ts \d+\.\d+\.\d+\n$/)
    const bad = spawnSync('npx', ['--no-install', 'machined', '--units=bogus'], { cwd: REPO, encoding: 'utf8' })
    assert.equal(bad.status, 2)
    assert.equal(bad.stderr, 'machined: Invalid --units=bogus\n')
  })

  it('starts its own system bus when none runs, and installs its bus policy when none is installed', async () => {
    const sb = await Sandbox.start({ bus: false, hidePolicies: true })
    try {
      assert.match(sb.daemonLog, /msg="Installed the D-Bus policy for org\.freedesktop\.machine1" path=\/etc\/dbus-1\/system\.d\/org\.freedesktop\.machine1\.conf/)
      assert.match(sb.daemonLog, /msg="No system bus was running: started our own dbus-daemon --system" address="unix:path=\/run\/dbus\/system_bus_socket" pid=\d+/)
      // Real clients find it at the standard socket, without any environment.
      const r = await sb.exec(['env', '-u', 'DBUS_SYSTEM_BUS_ADDRESS', 'machinectl', 'list', '--all', '--no-legend'])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /^\.host +host/m)
      assert.equal(await sb.stopDaemon('SIGTERM'), 0)
      // The bus we started goes with us.
      await eventually(() => sb.execSync(['test', '-S', '/run/dbus/system_bus_socket']).code !== 0
        || sb.execSync(['busctl', 'list']).code !== 0, 5000, 'the embedded bus to stop')
    } finally {
      await sb.stop()
    }
  })

  describe('on a running bus', () => {
    let sb: Sandbox
    before(async () => { sb = await Sandbox.start() })
    after(async () => { await sb?.stop() })

    it('Machine objects answer Terminate, Kill, GetAddresses, GetOSRelease, GetUIDShift and GetAll', async () => {
      const leader = await sb.spawnLeader()
      const name = sb.name('obj')
      const r = await registerMachine(sb, { name, leader: leader.pid! })
      const path = r.reply.replace(/^o "|"$/g, '')
      const call = (method: string, sig = '', ...args: string[]): ReturnType<typeof busctl> =>
        busctl(sb, ['call', DEST, path, 'org.freedesktop.machine1.Machine', method, ...(sig === '' ? [] : [sig]), ...args])
      assert.equal((await call('GetUIDShift')).reply, 'u 0')
      assert.match((await call('GetOSRelease')).reply, /"ID" "debian"/)
      assert.equal((await call('GetAddresses')).errorName, 'org.freedesktop.machine1.NoPrivateNetworking')
      const all = await busctl(sb, ['call', DEST, path, 'org.freedesktop.DBus.Properties', 'GetAll', 's', ''])
      assert.match(all.reply, /^a\{sv\} 11 "Name" s ".*" "Id" ay 0 "Timestamp" t \d+ "TimestampMonotonic" t \d+ "Service" s "test-svc" "Unit" s "machine-.*\.scope" "Leader" u \d+ "Class" s "container" "RootDirectory" s "" "NetworkInterfaces" ai 0 "State" s "running"$/)
      const badSig = await call('Kill', 'si', 'leader', '99')
      assert.deepEqual([badSig.errorName, badSig.errorMessage], ['org.freedesktop.DBus.Error.InvalidArgs', 'Invalid signal 99'])
      assert.equal((await call('Kill', 'si', 'leader', '19')).ok, true) // SIGSTOP
      await eventually(() => sb.execSync(['sh', '-c', `grep -q '^State:.*T' /proc/${leader.pid}/status`]).code === 0, 3000, 'the leader to stop')
      process.kill(leader.pid!, 'SIGCONT')
      assert.equal((await call('Terminate')).ok, true)
      await eventually(async () => !(await listMachineNames(sb)).includes(name), 5000, 'the machine to go')
    })

    it('/org/freedesktop/machine1/machine/self is the caller\'s own machine', async () => {
      const leader = await sb.spawnLeader()
      const name = sb.name('self')
      assert.equal((await registerMachine(sb, { name, leader: leader.pid! })).ok, true)
      // busctl run from inside the machine's scope sees it as "self".
      // The tracking hierarchy is the one the daemon reads a caller's machine from.
      const procs = join(trackingHierarchy(sb.cgroupLayout)!, machineScopeCgroup(name), 'cgroup.procs')
      const r = await sb.exec(['sh', '-c', `echo $$ > '${procs}' && exec busctl get-property ${DEST} /org/freedesktop/machine1/machine/self org.freedesktop.machine1.Machine Name`])
      assert.equal(r.stdout.trim(), `s "${name}"`, r.stderr)
      const outside = await busctl(sb, ['get-property', DEST, '/org/freedesktop/machine1/machine/self', 'org.freedesktop.machine1.Machine', 'Name'])
      assert.equal(outside.errorName, 'org.freedesktop.DBus.Error.UnknownObject')
      await callManager(sb, 'UnregisterMachine', 's', name)
    })

    it('only root may change machines: other users may look, and are refused with AccessDenied', async () => {
      const leader = await sb.spawnLeader()
      const name = sb.name('auth')
      assert.equal((await registerMachine(sb, { name, leader: leader.pid! })).ok, true)
      const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
        sb.exec(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'env', 'SYSTEMD_LOG_LEVEL=debug', 'busctl', 'call', DEST, '/org/freedesktop/machine1', 'org.freedesktop.machine1.Manager', ...args])
      const errorOf = (stderr: string): string | undefined => /^Got message type=error .* error-name=(\S+)/m.exec(stderr)?.[1]
      // Reading is open.
      const list = await run(['ListMachines'])
      assert.equal(list.code, 0, list.stderr)
      assert.ok(list.stdout.includes(`"${name}"`))
      // Changing is not: the bus policy lets these through, the daemon itself refuses.
      for (const args of [['UnregisterMachine', 's', name], ['TerminateMachine', 's', name], ['KillMachine', 'ssi', name, 'all', '9']]) {
        const r = await run(args)
        assert.notEqual(r.code, 0)
        assert.equal(errorOf(r.stderr), 'org.freedesktop.DBus.Error.AccessDenied', `${args[0]}: ${r.stderr}`)
      }
      const reg = await run(['RegisterMachine', 'sayssus', sb.name('auth2'), '0', 'svc', 'container', String(leader.pid), ''])
      assert.equal(errorOf(reg.stderr), 'org.freedesktop.DBus.Error.AccessDenied')
      assert.ok((await listMachineNames(sb)).includes(name), 'the machine is unchanged')
      assert.equal(leader.exitCode, null)
      await callManager(sb, 'UnregisterMachine', 's', name)
    })
  })

  describe('restarted over the machines it had', () => {
    let sb: Sandbox
    before(async () => { sb = await Sandbox.start() })
    after(async () => { await sb?.stop() })

    it('announces each machine it reloads once org.freedesktop.machine1 is its own, so a match on that name hears it', async () => {
      const leader = await sb.spawnLeader()
      const name = sb.name('reloaded')
      assert.equal((await registerMachine(sb, { name, leader: leader.pid! })).ok, true)
      await sb.stopDaemon('SIGKILL')
      // busctl monitor matches the name as sender: the bus lets a signal through only from the name's owner
      // then, as it does for the matches sd-bus clients add.
      const monitor = sb.exec(['timeout', '-s', 'INT', '8', 'busctl', 'monitor', '--json=short', DEST], { timeoutMs: 30_000 })
      await new Promise((r) => setTimeout(r, 1000))
      await sb.startDaemon()
      const { stdout } = await monitor
      const heard = stdout.split('\n').filter((l) => l.includes('"MachineNew"') && l.includes(`"${name}"`))
      assert.equal(heard.length, 1, `busctl monitor saw:\n${stdout.slice(-3000)}`)
      assert.deepEqual(await listMachineNames(sb), ['.host', name].sort())
      await callManager(sb, 'UnregisterMachine', 's', name)
    })
  })
})
