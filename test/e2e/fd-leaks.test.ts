// The daemon keeps no fd from the calls that reach into a machine, whether
// they fail (unknown user, missing file, a class that has no root) or hand
// an fd out (OpenMachineRootDirectory, OpenMachinePTY): its /proc/PID/fd
// count is the same after many of them as before.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { Sandbox, sleep } from '../helpers/sandbox.ts'
import { busctl, callManager, registerMachine } from '../helpers/busctl.ts'

let sb: Sandbox
let container: string
let vm: string

before(async () => {
  sb = await Sandbox.start()
  container = sb.name('sec-fds')
  vm = sb.name('sec-fdsvm')
  // A container whose leader has a mount namespace of its own; no bus in it (its /run is an empty tmpfs).
  const leader = await sb.spawnLeader(['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /run && exec sleep 1000'])
  const other = await sb.spawnLeader()
  await sleep(200)
  assert.ok((await registerMachine(sb, { name: container, leader: leader.pid! })).ok)
  assert.ok((await registerMachine(sb, { name: vm, leader: other.pid!, cls: 'vm' })).ok)
})

after(async () => {
  await sb.stop()
})

async function daemonFds(): Promise<number> {
  const r = await busctl(sb, ['call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetConnectionUnixProcessID', 's', 'org.freedesktop.machine1'])
  const pid = /^u (\d+)$/.exec(r.reply)?.[1]
  assert.ok(pid !== undefined, r.stderr)
  return readdirSync(`/proc/${pid}/fd`).length
}

async function round(): Promise<void> {
  const shell = await callManager(sb, 'OpenMachineShell', 'sssasas', container, 'sec-nobody', '/bin/sh', 1, 'sh', 0)
  assert.equal(shell.errorName, 'org.freedesktop.DBus.Error.UnixProcessIdUnknown', shell.stderr)
  const copy = await callManager(sb, 'CopyFromMachine', 'sss', container, '/sec-no-such-file', '/tmp/sec-fds-copy')
  assert.equal(copy.ok, false)
  assert.equal((await callManager(sb, 'OpenMachineRootDirectory', 's', vm)).errorName, 'org.freedesktop.DBus.Error.NotSupported')
  assert.equal((await callManager(sb, 'OpenMachineRootDirectory', 's', container)).ok, true)
  assert.equal((await callManager(sb, 'OpenMachinePTY', 's', container)).ok, true)
  assert.equal((await callManager(sb, 'GetMachineOSRelease', 's', container)).ok, true)
}

void describe('fds of calls into a machine', () => {
  void test('failing and fd-passing calls leave the daemon\'s fd count as it was', async () => {
    await round()
    await sleep(300)
    const start = await daemonFds()
    for (let i = 0; i < 8; i++) await round()
    await sleep(300)
    assert.equal(await daemonFds(), start)
  })
})
