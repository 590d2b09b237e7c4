// The systemd guest the packaging, libvirt and layout-matrix tests run on
// (helpers/systemd-guest.ts): checks that it is what it claims to be — a
// host whose PID 1 is systemd, on pure cgroup2 with a subtree of its own,
// systemd-machined masked, this checkout and node there read-only — and
// that the host's /run never sees it.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { REPO } from '../helpers/sandbox.ts'
import { SystemdGuest } from '../helpers/systemd-guest.ts'

void describe('the systemd guest', { timeout: 600_000 }, () => {
  let guest: SystemdGuest

  before(async () => {
    guest = await SystemdGuest.start()
  })

  after(async () => {
    await guest?.stop()
  })

  it('runs systemd as PID 1 on pure cgroup2, in a cgroup subtree of its own', async () => {
    assert.equal((await guest.enter(['cat', '/proc/1/comm'])).stdout.trim(), 'systemd')
    assert.equal((await guest.enter(['stat', '-fc', '%T', '/sys/fs/cgroup'])).stdout.trim(), 'cgroup2fs')
    assert.equal((await guest.enter(['systemctl', 'is-system-running'])).stdout.trim(), 'running')
    // Its PID 1 sits at the root of its cgroup namespace, in init.scope, as on a host.
    assert.match((await guest.enter(['cat', '/proc/1/cgroup'])).stdout, /^0::\/init\.scope$/m)
    // run() is one of the guest's own services.
    const r = await guest.run(['cat', '/proc/self/cgroup'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^0::\/system\.slice\/run-[^/]+\.service$/m)
  })

  it('has systemd-machined masked, its own bus, and this checkout and node read-only', async () => {
    assert.equal((await guest.enter(['systemctl', 'is-enabled', 'systemd-machined.service'])).stdout.trim(), 'masked')
    const bus = await guest.enter(['busctl', 'call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetId'])
    assert.equal(bus.code, 0, bus.stderr)
    const node = await guest.run([process.execPath, '-e', 'console.log(process.version)'])
    assert.equal(node.stdout.trim(), process.version, node.stderr)
    assert.equal((await guest.enter(['test', '-f', join(REPO, 'bin/machined.js')])).code, 0)
    const write = await guest.enter(['touch', join(REPO, 'guest-was-here')])
    assert.notEqual(write.code, 0, 'the checkout is writable in the guest')
    assert.match(write.stderr, /Read-only file system/)
  })

  it('takes files in, and leaves the host\'s /run alone', async () => {
    guest.writeFile('/etc/machined-ts-test/hello', 'hi\n')
    assert.equal((await guest.enter(['cat', '/etc/machined-ts-test/hello'])).stdout, 'hi\n')
    assert.equal(guest.readFile('/etc/machined-ts-test/hello'), 'hi\n')
    assert.equal(existsSync(`/run/systemd/nspawn/unix-export/${guest.name}`), false)
    assert.equal(existsSync(`/run/systemd/machines/${guest.name}`), false)
  })
})
