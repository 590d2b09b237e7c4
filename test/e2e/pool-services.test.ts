// Machines from images, as services, without systemd (issue 12, item 10):
// `mctl start NAME` boots image NAME of the pool through the daemon's own
// supervisor and returns once the machine is registered; the launcher
// survives a daemon restart (the new daemon adopts it rather than starting
// another), a failure after registration restarts it, `mctl poweroff` and
// `mctl terminate` leave nothing running; `mctl enable` starts it with the
// daemon. Real machinectl sees the machines as any others.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { eventually, REPO, sleep } from '../helpers/sandbox.ts'
import { poolWorld, type PoolWorld } from '../helpers/pool-machines.ts'
import { machineLeader, waitBooted } from '../helpers/spawn.ts'
import { vmImage } from '../helpers/vm.ts'
import { mctlForAnyUser } from '../helpers/staged.ts'

const RUNTIME = '/run/machined-ts/launchers'

/** The supervisor's launchers for `name`: machined-spawn processes started with --machine=NAME. */
function launchers(name: string): number[] {
  const out: number[] = []
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let argv: string[]
    try { argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0') } catch { continue }
    if (argv.some((a) => a.endsWith('bin/machined-spawn.js')) && argv.includes(`--machine=${name}`)) out.push(Number(p))
  }
  return out
}

function sessionOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[3])
}

void describe('mctl start/enable: machines from the pool, supervised by machined-ts', { timeout: 600_000 }, () => {
  let w: PoolWorld
  const mctl = (...args: string[]) => w.sb.exec([process.execPath, join(REPO, 'bin/mctl.js'), ...args], { timeoutMs: 120_000 })
  const registered = (name: string): boolean => w.sb.execSync(['test', '-e', `/run/systemd/machines/${name}`]).code === 0
  /** A busybox guest hears poweroff once its init has trapped the signal (before its first sleep). */
  const initUp = (leader: number): Promise<boolean> => eventually(() => { try { return readFileSync(`/proc/${leader}/task/${leader}/children`, 'utf8').trim() !== '' } catch { return false } }, 10_000, 'the guest\'s init')
  const gone = async (name: string): Promise<void> => {
    await eventually(() => !registered(name) && launchers(name).length === 0, 15_000, `${name} and its launcher to go`)
    // The supervisor removes the record once it has reaped the launcher, a moment after the process is gone.
    await eventually(() => w.sb.execSync(['test', '-e', join(RUNTIME, name)]).code === 1, 10_000, 'the launcher record to go')
  }

  before(async () => {
    w = await poolWorld()
  })

  after(async () => {
    for (const name of [w.deb, w.bb, w.bbraw]) for (const pid of launchers(name)) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
    await w?.stop()
  })

  it('start returns once the machine is registered; the launcher runs in a session of its own and logs per machine', async () => {
    const name = w.deb
    const r = await mctl('start', name)
    assert.deepEqual(r, { code: 0, stdout: '', stderr: '' })
    assert.ok(registered(name), 'registered when start returns')
    const [launcher, ...more] = launchers(name)
    assert.ok(launcher !== undefined && more.length === 0, 'one launcher')
    assert.notEqual(sessionOf(launcher), sessionOf(w.sb.daemonPid!), 'not in the daemon\'s session')
    const leader = await machineLeader(w.sb, name)
    assert.equal(await waitBooted(w.sb, leader), 'running')
    assert.match((await mctl('status', name)).stdout, new RegExp(`\\t   Image: ${name} \\(/var/lib/machines/${name}\\)\\n`))
    assert.match((await w.sb.exec(['machinectl', 'list'])).stdout, new RegExp(`^${name} +container machined-spawn `, 'm'))
    const log = w.sb.execSync(['cat', `/var/log/machined-ts/${name}.log`]).stdout
    assert.match(log, new RegExp(`Spawning container ${name} on /var/lib/machines/${name}\\.`))
    assert.match(log, /Reached target .*Multi-User System/)
    // Started again while it runs: nothing to do, as StartUnit on an active unit.
    assert.equal((await mctl('start', name)).code, 0)
    assert.deepEqual(launchers(name), [launcher])
  })

  it('survives a daemon restart: the new daemon adopts the launcher instead of starting another', async () => {
    const name = w.deb
    const [launcher] = launchers(name)
    const leader = await machineLeader(w.sb, name)
    await w.sb.stopDaemon('SIGTERM')
    await sleep(500)
    assert.deepEqual(launchers(name), [launcher], 'the launcher lives on without the daemon')
    await w.sb.startDaemon()
    await eventually(() => w.sb.daemonLog.includes('Adopted machine launcher'), 10_000, 'the adoption')
    assert.deepEqual(launchers(name), [launcher])
    assert.equal(await machineLeader(w.sb, name), leader)
    assert.equal((await mctl('start', name)).code, 0)
    assert.deepEqual(launchers(name), [launcher], 'no duplicate')
  })

  it('poweroff leaves nothing running, and the launcher is not restarted', async () => {
    const name = w.deb
    const leader = await machineLeader(w.sb, name)
    assert.deepEqual(await mctl('poweroff', name), { code: 0, stdout: '', stderr: '' })
    await gone(name)
    assert.ok(!w.sb.execSync(['cat', '/proc/self/mountinfo']).stdout.includes('/run/machined-spawn/'), 'a mount of the container left')
    await sleep(1000)
    assert.ok(!registered(name) && launchers(name).length === 0, 'not restarted')
    assert.throws(() => readFileSync(`/proc/${leader}/stat`))
    assert.match(w.sb.daemonLog, new RegExp(`msg="Machine launcher ended" machine=${name} status="machined-spawn exited with status 0" restart=false`))
  })

  it('a launcher that fails after its machine registered is restarted; terminate stops it for good', async () => {
    const name = w.bb
    assert.equal((await mctl('start', name)).code, 0)
    const first = await machineLeader(w.sb, name)
    const [launcher] = launchers(name)
    process.kill(first, 'SIGKILL')
    const second = await eventually(async () => {
      const pid = await machineLeader(w.sb, name, 1000).catch(() => 0)
      return pid !== first && pid > 0 ? pid : undefined
    }, 20_000, 'the machine to come back')
    assert.notDeepEqual(launchers(name), [launcher], 'a new launcher')
    assert.match(w.sb.daemonLog, /status="machined-spawn exited with status 1" restart=true/)
    await initUp(second)
    assert.equal((await w.sb.exec(['machinectl', 'terminate', name])).code, 0)
    await gone(name)
    await sleep(1000)
    assert.ok(!registered(name), 'terminated machines stay down')
  })

  it('a launcher that ends while no daemon runs is dealt with by the next one: a clean end stays ended, a failure restarts', async () => {
    const name = w.bb
    assert.equal((await mctl('start', name)).code, 0)
    let leader = await machineLeader(w.sb, name)
    await initUp(leader)
    await w.sb.stopDaemon('SIGTERM')
    process.kill(leader, 38) // SIGRTMIN+4: poweroff, as machinectl sends it
    await eventually(() => launchers(name).length === 0, 10_000, 'the launcher to end')
    assert.equal(w.sb.execSync(['cat', join(RUNTIME, `${name}.status`)]).stdout, '0\n')
    await w.sb.startDaemon()
    await sleep(1000)
    assert.ok(launchers(name).length === 0 && !registered(name), 'a clean end is not restarted')
    assert.equal(w.sb.execSync(['test', '-e', join(RUNTIME, name)]).code, 1)

    assert.equal((await mctl('start', name)).code, 0)
    leader = await machineLeader(w.sb, name)
    await w.sb.stopDaemon('SIGTERM')
    process.kill(leader, 'SIGKILL')
    await eventually(() => launchers(name).length === 0, 10_000, 'the launcher to end')
    assert.equal(w.sb.execSync(['cat', join(RUNTIME, `${name}.status`)]).stdout, '1\n')
    await w.sb.startDaemon()
    const again = await eventually(async () => {
      const pid = await machineLeader(w.sb, name, 1000).catch(() => 0)
      return pid !== leader && pid > 0 ? pid : undefined
    }, 20_000, 'the machine to be restarted by the new daemon')
    await initUp(again)
    assert.equal((await mctl('poweroff', name)).code, 0)
    await gone(name)
  })

  it('enable starts the machine with the daemon; disable stops that; bad names and images fail as in machinectl', async () => {
    const name = w.bbraw
    assert.deepEqual(await mctl('enable', name), { code: 0, stdout: '', stderr: '' })
    assert.equal(w.sb.execSync(['test', '-f', `/etc/machined-ts/enabled/${name}`]).code, 0)
    assert.ok(!registered(name), 'enable does not start')
    await w.sb.stopDaemon('SIGTERM')
    await w.sb.startDaemon()
    const leader = await machineLeader(w.sb, name, 20_000)
    assert.match((await mctl('status', name)).stdout, new RegExp(`\\t   Image: ${name} \\(/var/lib/machines/${name}\\.raw\\)\\n`))
    assert.deepEqual(await mctl('disable', name), { code: 0, stdout: '', stderr: '' })
    assert.equal(w.sb.execSync(['test', '-e', `/etc/machined-ts/enabled/${name}`]).code, 1)
    await initUp(leader)
    assert.equal((await mctl('poweroff', name)).code, 0)
    await gone(name)
    await w.sb.stopDaemon('SIGTERM')
    await w.sb.startDaemon()
    await sleep(1000)
    assert.ok(!registered(name), 'disabled: not started')

    assert.deepEqual(await mctl('start', 'no-such'), { code: 1, stdout: '', stderr: "Machine image 'no-such' does not exist.\n" })
    assert.deepEqual(await mctl('enable', 'no-such'), { code: 1, stdout: '', stderr: "Machine image 'no-such' does not exist.\n" })
    assert.deepEqual(await mctl('start', 'bad_name'), { code: 1, stdout: '', stderr: 'Invalid machine name bad_name.\n' })
    const nobody = await w.sb.exec(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...mctlForAnyUser(), 'start', w.bb])
    assert.deepEqual(nobody, { code: 1, stdout: '', stderr: `Failed to start machine ${w.bb}: Access denied\n` })
    assert.ok(!registered(w.bb))
  })

  it('a raw image with a kernel beside it starts as a VM in machined-vmspawn; terminate ends it for good', async () => {
    const name = w.sb.name('vm')
    const image = vmImage()
    writeFileSync(join(w.pool, `${name}.raw`), Buffer.alloc(1 << 20))
    symlinkSync(image.kernel, join(w.pool, `${name}.vmlinuz`))
    // No initrd and no root: the kernel runs until it is stopped, which is all a registration needs.
    assert.deepEqual(await mctl('start', name), { code: 0, stdout: '', stderr: '' })
    assert.match((await w.sb.exec(['machinectl', 'list', '--no-legend'])).stdout, new RegExp(`^${name} +vm +machined-vmspawn `, 'm'))
    assert.match((await mctl('status', name)).stdout, new RegExp(`\\t   Image: ${name} \\(/var/lib/machines/${name}\\.raw\\)\\n`))
    assert.match(w.sb.execSync(['cat', `/var/log/machined-ts/${name}.log`]).stdout, /Spawning VM/)
    assert.equal((await w.sb.exec(['machinectl', 'terminate', name])).code, 0)
    await eventually(() => !registered(name), 60_000, 'the VM to go')
    // A guard against hanging, not a timing goal: the launcher ends once qemu has, which takes a while on a loaded host.
    await eventually(() => w.sb.execSync(['test', '-e', join(RUNTIME, name)]).code === 1, 30_000, 'its launcher to end')
    await sleep(1000)
    assert.ok(!registered(name), 'not restarted')
  })

  it('a start that fails before the machine registers says why, and is not retried', async () => {
    const name = w.sb.name('noinit')
    mkdirSync(join(w.pool, name))
    const r = await mctl('start', name)
    assert.equal(r.code, 1)
    assert.match(r.stderr, new RegExp(`^Failed to start machine ${name}: machined-spawn exited with status 1; the end of /var/log/machined-ts/${name}\\.log: .*has no init to boot`))
    await sleep(1000)
    assert.ok(launchers(name).length === 0 && !registered(name))
  })
})
