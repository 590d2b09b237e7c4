// A machined-spawn container's life as users drive it: SIGTERM to the
// manager (even straight after the start, before the guest handles
// signals) is a clean shutdown; `machinectl reboot` restarts the payload
// in place, as nspawn does; `machinectl terminate` ends it; the payload's
// exit status is the manager's (`systemctl exit 42`, a command's own).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, rmdirSync } from 'node:fs'
import { join } from 'node:path'
import { trackingHierarchies } from '../../src/linux/cgroup-layout.ts'
import { eventually, REPO, Sandbox } from '../helpers/sandbox.ts'
import { hostTrackingDirs } from '../helpers/cgroups.ts'
import { debianTree, OverlayTree } from '../helpers/debian-tree.ts'
import { guestExec, machineLeader, SpawnRun, waitBooted } from '../helpers/spawn.ts'

function scopeGone(sb: Sandbox, name: string): boolean {
  return !sb.scopeDirs(name).some((d) => existsSync(d))
}

async function assertClean(sb: Sandbox, name: string): Promise<void> {
  assert.ok(scopeGone(sb, name), 'scope left in machine.slice')
  assert.equal(sb.execSync(['test', '-e', `/run/systemd/machines/${name}`]).code, 1, 'state file left')
  assert.equal(sb.execSync(['test', '-e', '/run/machined-spawn']).code, 1, '/run/machined-spawn left')
}

void describe('machined-spawn container lifetime', { timeout: 600_000 }, () => {
  let sb: Sandbox
  let tree: OverlayTree
  const runs: SpawnRun[] = []

  before(async () => {
    const cached = await debianTree()
    sb = await Sandbox.start()
    tree = await OverlayTree.create(sb, cached)
  })

  after(async () => {
    for (const r of runs) {
      if (r.child.exitCode === null) { try { process.kill(r.managerPid(), 'SIGKILL') } catch { /* gone */ } }
    }
    tree?.remove()
    await sb?.stop()
  })

  function start(args: string[]): SpawnRun {
    const r = SpawnRun.start(sb, args)
    runs.push(r)
    return r
  }

  it('SIGTERM to the manager halts the guest cleanly (SIGRTMIN+3), exit 0', async () => {
    const name = sb.name('term')
    const run = start(['-D', tree.path, '-M', name, '-b'])
    const leader = await machineLeader(sb, name)
    assert.equal(await waitBooted(sb, leader), 'running')
    process.kill(run.managerPid(), 'SIGTERM')
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.stderr)
    assert.match(run.stdout, /System Halt/, 'halt.target, not a kill')
    assert.match(run.stdout, /Halting system\./)
    assert.match(run.stderr, /has been shut down\./)
    await assertClean(sb, name)
  })

  it('SIGTERM right after the start, before the guest handles signals, still ends it cleanly', async () => {
    const name = sb.name('early')
    const run = start(['-D', tree.path, '-M', name, '-b'])
    await machineLeader(sb, name)
    process.kill(run.managerPid(), 'SIGTERM') // PID 1 may still be exec'ing systemd: the request is repeated
    const exit = await Promise.race([run.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000))])
    assert.deepEqual(exit, { code: 0, signal: null }, run.stderr)
    await assertClean(sb, name)
  })

  it('machinectl reboot restarts the guest in place; machinectl terminate ends it', async () => {
    const name = sb.name('reboot')
    const run = start(['-D', tree.path, '-M', name, '-b'])
    const first = await machineLeader(sb, name)
    assert.equal(await waitBooted(sb, first), 'running')
    const bootId = (await guestExec(sb, first, ['cat', '/proc/sys/kernel/random/boot_id'])).stdout.trim()
    assert.equal((await sb.exec(['machinectl', 'reboot', name])).code, 0)
    const second = await eventually(async () => {
      const pid = await machineLeader(sb, name).catch(() => 0)
      return pid !== first && pid > 0 && existsSync(`/proc/${pid}`) ? pid : undefined
    }, 20_000, 'the guest to come back with a new PID 1')
    assert.equal(await waitBooted(sb, second), 'running')
    assert.match(run.stderr, /is being rebooted\./)
    const bootId2 = (await guestExec(sb, second, ['cat', '/proc/sys/kernel/random/boot_id'])).stdout.trim()
    assert.notEqual(bootId2, bootId, 'a new boot ID for the new boot (A1.2 item 16)')
    // Same machine: same ID, registered again.
    assert.match((await sb.exec(['machinectl', 'show', name, '-p', 'Leader'])).stdout, new RegExp(`^Leader=${second}$`, 'm'))

    assert.equal((await sb.exec(['machinectl', 'terminate', name])).code, 0)
    const exit = await Promise.race([run.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))])
    assert.deepEqual(exit, { code: 0, signal: null }, run.stderr)
    await assertClean(sb, name)
  })

  it('a killed manager takes its container along; machined drops the machine', async () => {
    const name = sb.name('orphan')
    const run = start(['-D', tree.path, '-M', name, '-b', '-q'])
    const leader = await machineLeader(sb, name)
    assert.equal(await waitBooted(sb, leader), 'running')
    process.kill(run.managerPid(), 'SIGKILL')
    await eventually(() => !existsSync(`/proc/${leader}`), 5000, 'the container to die with its manager')
    await eventually(() => sb.execSync(['test', '-e', `/run/systemd/machines/${name}`]).code === 1 && scopeGone(sb, name), 5000, 'machined to drop it')
    for (const dir of [`/run/machined-spawn/unix-export/${name}`, `/run/systemd/nspawn/propagate/${name}`]) {
      await eventually(() => sb.execSync(['test', '-e', dir]).code === 1, 5000, `${dir} to go`)
    }
    assert.ok(!sb.execSync(['cat', '/proc/self/mountinfo']).stdout.includes('/run/systemd/nspawn/propagate/'), 'the incoming mount')
  })

  it('the guest\'s exit status is the manager\'s (systemctl exit 42)', async () => {
    const name = sb.name('exit')
    const run = start(['-D', tree.path, '-M', name, '-b', '-q'])
    const leader = await machineLeader(sb, name)
    assert.equal(await waitBooted(sb, leader), 'running')
    await guestExec(sb, leader, ['systemctl', '--no-block', 'exit', '42'])
    assert.deepEqual(await run.exited, { code: 42, signal: null })
    assert.equal(run.stderr, '', '-q prints nothing')
    await assertClean(sb, name)
  })

  it('a command: its output and exit status, pipe mode by default off a terminal, stdin passed through', async () => {
    const name = sb.name('cmd')
    const r = await SpawnRun.run(sb, ['-D', tree.path, '-M', name, '--setenv=GREETING=hi there', '--hostname=box.example', '--',
      '/bin/sh', '-c', 'echo "$GREETING from $(hostname) as PID $$"; read line; echo "got $line"; echo oops >&2; exit 7'], { input: 'a line\n' })
    assert.equal(r.code, 7, r.stderr)
    assert.equal(r.stdout, 'hi there from box.example as PID 1\ngot a line\n')
    assert.match(r.stderr, /^oops$/m)
    assert.match(r.stderr, new RegExp(`Container ${name} failed with error code 7\\.`))
    await assertClean(sb, name)
  })

  it('--uuid names a tree without machine ID; --bind/--bind-ro; --private-network has only lo', async () => {
    const name = sb.name('opts')
    const uuid = '6b3f1c2e-9d4a-4e2b-8f1a-0c5d7e9f1a2b'
    // A fresh tree: the one above has committed a machine ID by now, and that would win (A1.9).
    const fresh = await OverlayTree.create(sb)
    const r = await SpawnRun.run(sb, ['-D', fresh.path, '-M', name, `--uuid=${uuid}`, '--private-network',
      '--bind=/usr/share/common-licenses:/mnt/rw', '--bind-ro=/etc/os-release:/mnt/host-os-release', '--',
      '/bin/sh', '-c', [
        'tr "\\0" "\\n" </proc/1/environ | grep ^container_uuid=',
        'ls /sys/class/net',
        'cat /sys/class/net/lo/flags',
        'test -f /mnt/rw/GPL-3 && echo bound',
        'grep -c ^ID= /mnt/host-os-release',
        'touch /mnt/host-os-release 2>/dev/null || echo read-only',
        'echo 1 >/proc/sys/net/ipv4/ip_forward && echo netns-sysctl-writable',
      ].join('; ')])
    fresh.remove()
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `container_uuid=${uuid}\nlo\n0x9\nbound\n1\nread-only\nnetns-sysctl-writable\n`)
    await assertClean(sb, name)
  })

  it('the tree\'s own machine ID wins over --uuid (nspawn\'s rule, A1.9)', async () => {
    const id = sb.execSync(['cat', `${tree.path}/etc/machine-id`]).stdout.trim()
    assert.match(id, /^[0-9a-f]{32}$/, 'committed by the first boot')
    const r = await SpawnRun.run(sb, ['-D', tree.path, '-M', sb.name('id'), '--uuid=6b3f1c2e-9d4a-4e2b-8f1a-0c5d7e9f1a2b', '--',
      '/bin/sh', '-c', 'cat /run/host/container-uuid'])
    assert.equal(r.stdout.replace(/-/g, '').trim(), id)
  })

  it('--keep-unit: the container gets a payload cgroup below ours, and machined adopts our unit (RegisterMachine)', async () => {
    const name = sb.name('keep')
    const unit = `${name}-keep.scope`
    const layout = sb.cgroupLayout
    const dirs = hostTrackingDirs(layout, `/machine.slice/${unit}`)
    for (const d of dirs) mkdirSync(d, { recursive: true })
    try {
      // Started from inside that scope, as a service manager would start us.
      const moves = trackingHierarchies(layout).map((h) => `echo $$ > ${join(h, 'machine.slice', unit, 'cgroup.procs')}`).join(' && ')
      const payload = 'sed -n "s/^0:://p" /proc/self/cgroup; sleep 1'
      const r = sb.exec(['sh', '-c', `cd ${REPO} && ${moves} && exec npx --no-install machined-spawn -q -D "$0" -M "$1" --keep-unit -- /bin/sh -c '${payload}'`, tree.path, name])
      await machineLeader(sb, name)
      assert.equal((await sb.exec(['machinectl', 'show', name, '-p', 'Unit', '--value'])).stdout.trim(), unit)
      const done = await r
      assert.equal(done.code, 0, done.stderr)
      assert.equal(done.stdout, '/\n', 'a cgroup namespace rooted at the payload cgroup')
      for (const d of dirs) assert.ok(!existsSync(join(d, 'payload')), 'payload cgroup removed')
      await eventually(() => sb.execSync(['test', '-e', `/run/systemd/machines/${name}`]).code === 1, 5000, 'the machine to go')
    } finally {
      for (const d of dirs) { try { rmdirSync(d) } catch { /* busy or gone */ } }
    }
  })

  it('--register=no runs without machined, in a scope of its own that it removes again', async () => {
    const name = sb.name('noreg')
    const r = await SpawnRun.run(sb, ['-D', tree.path, '-M', name, '--register=no', '--', '/bin/sh', '-c', 'cat /proc/self/cgroup | grep ^0::; ls /run/host'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^0::\/$/m, 'a cgroup namespace rooted at its scope')
    assert.equal((await sb.exec(['machinectl', 'list', '--no-legend'])).stdout.includes(name), false)
    await assertClean(sb, name)
  })
})
