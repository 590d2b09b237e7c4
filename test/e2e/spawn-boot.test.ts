// machined-spawn boots Debian's systemd (issue 5, "Done when"): to
// `running` with no failed unit, registered so that machinectl, busctl,
// `ps -o machine`, `systemctl -M` and `busctl -M` see it; every Container
// Interface item checked from inside the guest; `machinectl poweroff`
// ends it cleanly within 10 s, the manager exits 0, and nothing is left in
// machine.slice, /run/systemd/machines or the mount table.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { Sandbox } from '../helpers/sandbox.ts'
import { debianTree, OverlayTree } from '../helpers/debian-tree.ts'
import { guestExec, helperPids, machineLeader, SpawnRun, waitBooted } from '../helpers/spawn.ts'
import { busctl, DEST } from '../helpers/busctl.ts'
import { runConformance, resultTable } from '../conformance/runner.ts'
import { describeFailures } from '../conformance/container-interface.ts'

/** Items machined-spawn cannot pass alone, and why (docs/container-interface.md). */
const KNOWN_GAPS: Readonly<Record<number, RegExp>> = {}

function mountPoints(sb: Sandbox): string[] {
  return sb.execSync(['cat', '/proc/self/mountinfo']).stdout.split('\n').map((l) => l.split(' ')[4] ?? '').filter((p) => p !== '').sort()
}

/** The copies of the machine's scope left in the hierarchies the sandbox tracks processes in. */
function scopeDirs(sb: Sandbox, name: string): string[] {
  return sb.scopeDirs(name).filter((d) => existsSync(d))
}

void describe('machined-spawn -b boots Debian bookworm', { timeout: 600_000 }, () => {
  let sb: Sandbox
  let tree: OverlayTree
  let run: SpawnRun
  let name: string
  let leader: number
  let mountsBefore: string[]

  before(async () => {
    const cached = await debianTree() // built once (about a minute), then cached
    sb = await Sandbox.start()
    tree = await OverlayTree.create(sb, cached)
    name = sb.name('deb')
    mountsBefore = mountPoints(sb)
    run = SpawnRun.start(sb, ['-D', tree.path, '-M', name, '-b'])
    leader = await machineLeader(sb, name)
  })

  after(async () => {
    if (run !== undefined && run.child.exitCode === null) {
      try { process.kill(run.managerPid(), 'SIGKILL') } catch { /* gone */ }
      await run.exited
    }
    tree?.remove()
    await sb?.stop()
  })

  it('boots to running with no failed unit', async () => {
    assert.equal(await waitBooted(sb, leader), 'running', run.stdout.slice(-2000))
    const failed = await guestExec(sb, leader, ['systemctl', 'list-units', '--failed', '--no-legend', '--plain'])
    assert.equal(failed.stdout.trim(), '', 'failed units')
    assert.match(run.stdout, /Reached target .*multi-user\.target/, 'the console is forwarded')
    assert.match(run.stderr, new RegExp(`^Spawning container ${name} on ${tree.path}\\.$`, 'm'))
  })

  it('machinectl list and busctl show it as a container whose leader is its PID 1', async () => {
    const list = await sb.exec(['machinectl', 'list', '--no-legend'])
    assert.match(list.stdout, new RegExp(`^${name} +container +machined-spawn +debian +12 `, 'm'))
    const path = await busctl(sb, ['call', DEST, '/org/freedesktop/machine1', 'org.freedesktop.machine1.Manager', 'GetMachine', 's', name])
    assert.ok(path.ok, path.stderr)
    const objectPath = /"(.*)"/.exec(path.reply)![1]!
    const props = await busctl(sb, ['get-property', DEST, objectPath, 'org.freedesktop.machine1.Machine', 'Leader', 'Class', 'Service', 'RootDirectory'])
    assert.equal(props.reply, `u ${leader}\ns "container"\ns "machined-spawn"\ns "${tree.path}"`)
    // The leader is PID 1 of the container's PID namespace.
    assert.match(readFileSync(`/proc/${leader}/status`, 'utf8'), /^NSpid:\s+\d+\s+1$/m)
    assert.equal(readFileSync(`/proc/${leader}/comm`, 'utf8').trim(), 'systemd')
  })

  it('ps -o machine attributes the guest\'s processes to it', async () => {
    const ps = await sb.exec(['ps', '-e', '-o', 'pid=,machine=,comm='])
    const guest = ps.stdout.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[1] === name)
    const comms = guest.map((f) => f[2])
    assert.ok(comms.includes('systemd'), ps.stdout)
    assert.ok(comms.includes('dbus-daemon') && comms.includes('systemd-journal'), comms.join(' '))
    assert.ok(guest.some((f) => Number(f[0]) === leader))
  })

  it('systemctl -M and busctl -M reach the guest\'s own bus', async () => {
    const state = await sb.exec(['systemctl', '-M', name, 'is-system-running'])
    assert.equal(state.stdout.trim(), 'running', state.stderr)
    const names = await sb.exec(['busctl', '-M', name, '--system', 'list', '--no-legend'])
    assert.equal(names.code, 0, names.stderr)
    assert.match(names.stdout, /^org\.freedesktop\.DBus /m)
    assert.match(names.stdout, /^org\.freedesktop\.login1 /m)
  })

  it('passes every Container Interface item, checked inside the guest', async (t) => {
    const results = await runConformance(sb, { leader, name, registered: true })
    t.diagnostic(`\n${resultTable(results)}`)
    const failures = results.filter((r) => r.outcome === 'fail' && !(KNOWN_GAPS[r.item]?.test(r.detail) ?? false))
    assert.equal(failures.length, 0, `failed:\n${describeFailures(failures)}`)
    // Sanity: most items apply here and pass.
    assert.ok(results.filter((r) => r.outcome === 'pass').length >= 50)
  })

  it('machinectl poweroff shuts it down within 10 s; exit 0; nothing left behind', async () => {
    const t0 = Date.now()
    const off = await sb.exec(['machinectl', 'poweroff', name])
    assert.equal(off.code, 0, off.stderr)
    const exit = await Promise.race([run.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))])
    assert.notEqual(exit, 'timeout', 'still running 10 s after machinectl poweroff')
    assert.ok(Date.now() - t0 < 10_000)
    assert.deepEqual(exit, { code: 0, signal: null }, run.stderr)
    assert.match(run.stderr, new RegExp(`Container ${name} has been shut down\\.`))
    assert.match(run.stdout, /Reached target .*(System Power Off|poweroff\.target)/)

    assert.deepEqual(scopeDirs(sb, name), [], 'machine.slice')
    assert.equal(sb.execSync(['ls', '-A', '/run/systemd/machines']).stdout.trim(), '', '/run/systemd/machines')
    assert.deepEqual(mountPoints(sb), mountsBefore, 'the sandbox\'s mount table')
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(tree.path), 'the host\'s mount table')
    assert.equal(sb.execSync(['test', '-e', '/run/machined-spawn']).code, 1, '/run/machined-spawn')
    assert.ok(!existsSync(`/proc/${leader}`), 'the container\'s PID 1')
    assert.deepEqual(helperPids(), [], 'helper processes')
  })
})
