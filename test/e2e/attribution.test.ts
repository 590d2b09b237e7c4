// Processes are attributed to their machine the way systemd tools look for
// it: the scope in both cgroup hierarchies, the unit: link libsystemd
// follows for `ps -o machine`, and real systemd-nspawn registering through
// us and being forgotten when it exits.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { machineScopeName } from '../../src/protocol/unit-name.ts'
import { eventually, Sandbox } from '../helpers/sandbox.ts'
import { machineScopeCgroup, trackingCgroupsOf } from '../helpers/cgroups.ts'
import { callManager, listMachineNames } from '../helpers/busctl.ts'

/** A tiny tree systemd-nspawn accepts: busybox, /usr, an os-release. */
function busyboxTree(): string {
  const dir = mkdtempSync(join(tmpdir(), 'machined-ts-bb-'))
  for (const d of ['bin', 'usr', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run', 'var']) mkdirSync(join(dir, d))
  copyFileSync('/bin/busybox', join(dir, 'bin/busybox'))
  chmodSync(join(dir, 'bin/busybox'), 0o755)
  for (const applet of ['sh', 'sleep', 'cat']) symlinkSync('busybox', join(dir, 'bin', applet))
  writeFileSync(join(dir, 'etc/os-release'), 'ID=busybox\nNAME="BusyBox"\nPRETTY_NAME="BusyBox test tree"\n')
  return dir
}

describe('attribution of processes to machines', () => {
  let sb: Sandbox
  before(async () => { sb = await Sandbox.start() })
  after(async () => { await sb?.stop() })

  it('ps -o machine shows the machine for its leader and the leader\'s children; /proc/PID/cgroup shows the scope', async () => {
    const { leader, release } = await sb.spawnGatedLeader('sleep 1000 & wait')
    const name = sb.name('ps')
    assert.equal((await callManager(sb, 'CreateMachine', 'sayssusa(sv)', name, '0', 'svc', 'container', leader.pid!, '', 0)).ok, true)
    release()
    const child = (await eventually(async () => (await sb.exec(['pgrep', '-P', String(leader.pid), '-f', '^sleep 1000$'])).stdout.trim() || undefined, 5000, 'the child'))
    const ps = await sb.exec(['ps', '-o', 'pid=,machine=', '-p', `${leader.pid},${child}`])
    assert.equal(ps.code, 0, ps.stderr)
    const rows = ps.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/))
    assert.deepEqual(rows.map((r) => r[1]), [name, name])
    const scope = machineScopeName(name)
    const layout = sb.cgroupLayout
    for (const pid of [leader.pid!, Number(child)]) {
      // In every hierarchy the sandbox tracks processes in: cgroup2, and name=systemd on a hybrid layout.
      const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      assert.deepEqual(trackingCgroupsOf(layout, cgroup), sb.scopeDirs(name).map(() => machineScopeCgroup(name)), cgroup)
    }
    assert.equal(sb.execSync(['readlink', `/run/systemd/machines/unit:${scope}`]).stdout.trim(), name)
    // systemd-cgls reads the name=systemd tree.
    const cgls = await sb.exec(['systemd-cgls', '--no-pager', '/machine.slice'])
    assert.ok(cgls.stdout.includes(scope), cgls.stdout + cgls.stderr)
    await callManager(sb, 'TerminateMachine', 's', name)
    await eventually(async () => !(await listMachineNames(sb)).includes(name), 5000, 'the machine to go')
    // Nothing is left: no state file, no link, no scope.
    assert.equal(sb.execSync(['ls', '-A', '/run/systemd/machines']).stdout.includes(name), false)
    for (const dir of sb.scopeDirs(name)) assert.equal(existsSync(dir), false, `${dir} is left`)
  })

  it('systemd-nspawn --register=yes registers through us, shows in machinectl list, and is gone after it exits', async () => {
    const tree = busyboxTree()
    const name = sb.name('nspawn')
    try {
      const nspawn = spawn(sb.nsenter[0]!, [...sb.nsenter.slice(1), 'systemd-nspawn', '--register=yes', '-q', '-D', tree, '-M', name, '/bin/sh', '-c', 'sleep 3'], {
        env: sb.env, stdio: ['ignore', 'pipe', 'pipe'],
      })
      let output = ''
      nspawn.stdout.on('data', (c: Buffer) => { output += c.toString() })
      nspawn.stderr.on('data', (c: Buffer) => { output += c.toString() })
      const exited = new Promise<number | null>((r) => nspawn.once('exit', (code) => r(code)))
      await eventually(async () => (await sb.exec(['machinectl', 'list', '--no-legend'])).stdout.includes(name), 10_000, `nspawn to register (${output})`)
      const list = await sb.exec(['machinectl', 'list'])
      assert.match(list.stdout, new RegExp(`^${name} +container +systemd-nspawn +busybox +- +-$`, 'm'))
      const state = sb.execSync(['cat', `/run/systemd/machines/${name}`]).stdout
      assert.match(state, new RegExp(`^ROOT=${tree}$`, 'm'))
      assert.equal(await exited, 0, output)
      await eventually(async () => !(await listMachineNames(sb)).includes(name), 5000, 'the machine to go')
      assert.equal(sb.execSync(['test', '-e', `/run/systemd/machines/${name}`]).code, 1)
    } finally {
      rmSync(tree, { recursive: true, force: true })
    }
  })
})
