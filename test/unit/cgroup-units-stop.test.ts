// Scope properties without systemd, with real processes in real cgroups of
// this host's layout (as root): how CgroupUnits stops a scope by its
// KillMode= (control-group, mixed, process, none as systemd's scopes run
// them, the machine's leader standing in for the main process a scope
// does not have), KillSignal= then SIGCONT, SendSIGHUP=, TimeoutStopUSec=
// before FinalKillSignal= or, with SendSIGKILL=no, giving up; TasksMax=
// and MemoryMax= enforced by the controllers the layout has, and named as
// not enforced where a pure cgroup2 view has none; and memory and tasks
// accounted as systemd 252 accounts every unit (the v1 memory and pids
// hierarchies of a hybrid host), the copies there removed with the scope.
import { after, afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CgroupUnits } from '../../src/backends/cgroup-units.ts'
import { ProcfsProcesses } from '../../src/backends/procfs.ts'
import type { UnitRef } from '../../src/core/ports.ts'
import { defaultScopeSettings, type ScopeSettings } from '../../src/core/scope-properties.ts'
import { detectCgroupLayout, type CgroupLayout } from '../../src/linux/cgroup-layout.ts'
import { cgroupOf, parseProcCgroup } from '../../src/linux/cgroup-paths.ts'
import { cgroupPids } from '../../src/linux/cgroup-tree.ts'
import { FakeLog } from '../fakes/log.ts'
import { memoryMaxFile, pidsMaxFile, rootControllers } from '../helpers/cgroups.ts'
import { needsRoot } from '../helpers/privilege.ts'
import { eventually, sleep } from '../helpers/sandbox.ts'

const HOST = detectCgroupLayout()!
const dir = mkdtempSync(join(tmpdir(), 'cgroup-units-stop-'))
let serial = 0

/** A shell that writes "TAG SIG" for each of the signals it traps, and runs until killed. */
function recorder(tag: string, signals: readonly string[]): string {
  const log = join(dir, 'signals')
  return `${signals.map((s) => `trap 'echo ${tag} ${s} >> ${log}' ${s};`).join(' ')} echo > ${join(dir, `ready-${tag}`)}; while :; do sleep 0.05; done`
}

interface Started {
  readonly units: CgroupUnits
  readonly ref: UnitRef
  readonly leader: ChildProcess
  /** The leader's child (same cgroup), forked once the leader is in the scope. */
  readonly child: () => number
  readonly log: FakeLog
}

const running: Started[] = []

/** A scope with `settings` for a leader that, once inside, starts a child; both run `script`s of their own. */
async function start(settings: Partial<ScopeSettings>, leaderScript: string, childScript: string, layout: CgroupLayout = HOST): Promise<Started> {
  const tag = `${process.pid}-${++serial}`
  const go = join(dir, `go-${tag}`)
  const leader = spawn('sh', ['-c', `while [ ! -e ${go} ]; do sleep 0.01; done; (${childScript}) & echo $! > ${go}.child; ${leaderScript}`], { stdio: 'ignore' })
  await new Promise((r) => leader.once('spawn', r))
  const log = new FakeLog()
  const units = new CgroupUnits({ layout, runtimeDir: join(dir, `runtime-${tag}`), log })
  const ref = await units.createScope({
    unit: `machined-stop-${tag}.scope`, description: 'test', leader: (await new ProcfsProcesses({ pidfds: false }).pin(leader.pid!))!,
    settings: { ...defaultScopeSettings(), ...settings },
  })
  writeFileSync(go, '')
  const started = { units, ref, leader, log, child: () => Number(readFileSync(`${go}.child`, 'utf8')) }
  running.push(started)
  await eventually(() => existsSync(`${go}.child`), 5000, 'the child')
  return started
}

function alive(pid: number): boolean {
  try { return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'latin1')) } catch { return false }
}

function seen(): string[] {
  try { return readFileSync(join(dir, 'signals'), 'utf8').split('\n').filter((l) => l !== '') } catch { return [] }
}

async function ready(...tags: string[]): Promise<void> {
  await eventually(() => tags.every((t) => existsSync(join(dir, `ready-${t}`))), 5000, `${tags.join(', ')} to set their traps`)
}

afterEach(async () => {
  for (const s of running.splice(0)) {
    s.units.dispose()
    const tracking = join(HOST.unified ?? HOST.systemdV1!, s.ref.cgroup)
    for (const pid of cgroupPids(tracking)) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
    const cleaner = new CgroupUnits({ layout: HOST, runtimeDir: join(dir, 'cleaner'), log: new FakeLog() })
    await cleaner.reattach(s.ref)
    await cleaner.release(s.ref)
    await eventually(async () => !(await cleaner.isPopulated(s.ref)) && !existsSync(tracking), 5000, `${s.ref.unit} to go`)
    cleaner.dispose()
  }
  rmSync(join(dir, 'signals'), { force: true })
})
after(() => rmSync(dir, { recursive: true, force: true }))

void describe('stopping a scope without systemd', needsRoot, () => {
  void it('KillMode=control-group: KillSignal, SIGCONT and (SendSIGHUP=) SIGHUP to every process; FinalKillSignal to all after TimeoutStopUSec', async () => {
    const traps = ['USR1', 'HUP', 'CONT']
    const s = await start({ killSignal: 10, sendSighup: true, timeoutStopUsec: 1_000_000 }, recorder('leader', traps), recorder('child', traps))
    await ready('leader', 'child')
    await s.units.stop(s.ref)
    await eventually(() => ['leader', 'child'].every((t) => ['USR1', 'CONT', 'HUP'].every((sig) => seen().includes(`${t} ${sig}`))), 3000, 'both to see KillSignal, SIGCONT, SIGHUP')
    assert.ok(alive(s.leader.pid!) && alive(s.child()), 'both outlive the signals they trap until the timeout')
    await eventually(() => !alive(s.leader.pid!) && !alive(s.child()), 5000, 'SIGKILL after the timeout')
    await eventually(async () => !(await s.units.isPopulated(s.ref)), 2000, 'the scope to empty')
  })

  void it('FinalKillSignal= replaces SIGKILL in the last phase', async () => {
    const traps = ['USR1', 'USR2']
    const s = await start({ killSignal: 10, finalKillSignal: 12, timeoutStopUsec: 200_000 }, recorder('leader', traps), recorder('child', traps))
    await ready('leader', 'child')
    await s.units.stop(s.ref)
    await eventually(() => seen().includes('leader USR2') && seen().includes('child USR2'), 3000, 'FinalKillSignal to both')
    assert.ok(alive(s.leader.pid!) && alive(s.child()))
    assert.equal(await s.units.isPopulated(s.ref), true, 'still a running scope: its processes live on')
  })

  void it('KillMode=mixed: KillSignal to the leader only, FinalKillSignal to the whole cgroup after the timeout', async () => {
    const s = await start({ killMode: 'mixed', killSignal: 10, timeoutStopUsec: 1_000_000 }, recorder('leader', ['USR1']), recorder('child', ['USR1']))
    await ready('leader', 'child')
    await s.units.stop(s.ref)
    await eventually(() => seen().includes('leader USR1'), 3000, 'the leader to see KillSignal')
    await sleep(200)
    assert.deepEqual(seen(), ['leader USR1'], 'the child gets no KillSignal')
    await eventually(() => !alive(s.leader.pid!) && !alive(s.child()), 5000, 'SIGKILL to both after the timeout')
  })

  void it('KillMode=process: signals reach the leader only, FinalKillSignal too; once it is gone the stop is over and the rest runs on', async () => {
    const s = await start({ killMode: 'process', killSignal: 10, timeoutStopUsec: 500_000 }, recorder('leader', ['USR1']), recorder('child', ['USR1']))
    await ready('leader', 'child')
    await s.units.stop(s.ref)
    await eventually(() => seen().includes('leader USR1'), 3000, 'the leader to see KillSignal')
    assert.equal(await s.units.isPopulated(s.ref), true, 'active while the leader runs')
    await eventually(() => !alive(s.leader.pid!), 5000, 'SIGKILL to the leader after the timeout')
    assert.ok(alive(s.child()), 'the child is left running')
    assert.deepEqual(seen(), ['leader USR1'])
    // The core hears of the leader's end from its pidfd, and then finds the unit inactive.
    assert.equal(await s.units.isPopulated(s.ref), false, 'the stop is over with the leader gone')
    const tracking = join(HOST.unified ?? HOST.systemdV1!, s.ref.cgroup)
    assert.ok(cgroupPids(tracking).includes(s.child()), 'the child stays in the scope\'s cgroup')
    // Released (its machine gone), the scope waits for what the stop left running, then goes.
    await s.units.release(s.ref)
    await sleep(200)
    assert.ok(existsSync(tracking), 'kept while the child runs')
    process.kill(s.child(), 'SIGKILL')
    await eventually(() => !existsSync(tracking), 5000, 'the scope to go once empty')
  })

  void it('KillMode=none: nothing is signalled; the stop is over at once, and the unit\'s watchers hear of it', async () => {
    const s = await start({ killMode: 'none', killSignal: 10 }, recorder('leader', ['USR1', 'TERM']), recorder('child', ['USR1', 'TERM']))
    await ready('leader', 'child')
    let heard = false
    const watch = s.units.watch(s.ref, () => { heard = true })
    try {
      await s.units.stop(s.ref)
      await eventually(() => heard, 2000, 'the watchers to be told')
      assert.equal(await s.units.isPopulated(s.ref), false)
      await sleep(300)
      assert.deepEqual(seen(), [])
      assert.ok(alive(s.leader.pid!) && alive(s.child()))
    } finally {
      watch.dispose()
    }
  })

  void it('SendSIGKILL=no: after the timeout the stop gives up, killing nobody', async () => {
    const s = await start({ killSignal: 10, sendSigkill: false, timeoutStopUsec: 200_000 }, recorder('leader', ['USR1']), recorder('child', ['USR1']))
    await ready('leader', 'child')
    await s.units.stop(s.ref)
    await eventually(async () => !(await s.units.isPopulated(s.ref)), 3000, 'the stop to give up')
    assert.deepEqual(seen().sort(), ['child USR1', 'leader USR1'])
    assert.ok(alive(s.leader.pid!) && alive(s.child()), 'nobody killed')
  })

  void it('a stopped (SIGSTOP) process is woken by the SIGCONT after KillSignal, and ends on it', async () => {
    const s = await start({ timeoutStopUsec: 60_000_000 }, 'exec sleep 1000', 'exec sleep 1000')
    process.kill(s.leader.pid!, 'SIGSTOP')
    process.kill(s.child(), 'SIGSTOP')
    await s.units.stop(s.ref)
    await eventually(() => !alive(s.leader.pid!) && !alive(s.child()), 3000, 'SIGTERM to act long before the minute\'s timeout')
  })
})

void describe('limits without systemd', needsRoot, () => {
  void it('TasksMax= caps the scope\'s tasks where the layout has a pids controller (v1 pids here, else cgroup2\'s)', async () => {
    const s = await start({ tasksMax: 4n }, 'for i in 1 2 3 4 5 6 7 8; do sleep 1000 & done; wait', 'exec sleep 1000')
    const file = pidsMaxFile(HOST, s.ref.cgroup)
    assert.ok(file !== undefined, 'this host has a pids controller')
    assert.equal(readFileSync(file, 'utf8'), '4\n')
    await sleep(500)
    const tracking = join(HOST.unified ?? HOST.systemdV1!, s.ref.cgroup)
    // The leader, its child and eight sleeps would be ten: the forks past the limit fail.
    const n = cgroupPids(tracking).length
    assert.ok(n >= 2 && n <= 4, `${n} processes in the scope`)
  })

  void it('MemoryMax= caps the scope\'s memory where the layout has a memory controller (v1 memory.limit_in_bytes here, else cgroup2\'s memory.max)', async () => {
    const s = await start({ memoryMax: 32n << 20n }, 'exec python3 -c "b = b\'x\' * (128 << 20); import time; time.sleep(100)"', 'exec sleep 1000')
    const file = memoryMaxFile(HOST, s.ref.cgroup)
    assert.ok(file !== undefined, 'this host has a memory controller')
    assert.equal(readFileSync(file, 'utf8'), `${32 << 20}\n`)
    const exit = await new Promise<string | null>((r) => s.leader.once('exit', (_code, signal) => r(signal)))
    assert.equal(exit, 'SIGKILL', 'the kernel\'s OOM killer ends what allocates past the limit')
  })

  void it('a pure cgroup2 view whose root offers neither pids nor memory: both named as not enforced, nothing else changes', async () => {
    assert.ok(HOST.unified !== undefined, 'the host mounts cgroup2')
    const controllers = rootControllers(HOST)
    assert.ok(!controllers.includes('pids') && !controllers.includes('memory'), `this host's cgroup2 offers ${controllers.join(' ')}`)
    const unified: CgroupLayout = { kind: 'unified', unified: HOST.unified, systemdV1: undefined, pidsV1: undefined, devicesV1: undefined, memoryV1: undefined }
    const s = await start({ tasksMax: 4n, memoryMax: 32n << 20n }, 'exec sleep 1000', 'exec sleep 1000', unified)
    assert.deepEqual(s.log.messages('warn'), [
      'TasksMax= not enforced: no pids controller in this cgroup layout, ignoring',
      'MemoryMax= not enforced: no memory controller in this cgroup layout, ignoring',
    ])
    assert.equal(existsSync(join(HOST.unified, s.ref.cgroup, 'pids.max')), false)
    assert.ok(alive(s.child()))
  })
})

/** Where the layout has the v1 memory and pids hierarchies that accounting puts every scope in (none on a pure cgroup2 host). */
const ACCOUNTING = ([['memory', HOST.memoryV1], ['pids', HOST.pidsV1]] as const).filter((e): e is readonly ['memory' | 'pids', string] => e[1] !== undefined)

void describe('accounting without systemd', needsRoot, () => {
  void it(`every scope is made in the v1 memory and pids hierarchies the layout has (${ACCOUNTING.map(([c]) => c).join(', ') || 'none here'}), its processes in each, their figures the scope's own`, async (t) => {
    const s = await start({}, 'exec python3 -c "b = b\'x\' * (32 << 20); import time; time.sleep(100)"', 'exec sleep 1000')
    if (ACCOUNTING.length === 0) {
      assert.equal(HOST.kind, 'unified', 'only a pure cgroup2 host mounts no v1 hierarchy')
      t.diagnostic('branch: pure cgroup2, no v1 memory or pids hierarchy to account in')
      return
    }
    t.diagnostic(`branch: ${HOST.kind}, v1 ${ACCOUNTING.map(([c]) => c).join(' and ')}`)
    for (const pid of [s.leader.pid!, s.child()]) {
      const lines = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))
      for (const [controller] of ACCOUNTING) assert.equal(cgroupOf(lines, controller), s.ref.cgroup, `process ${pid} in the scope's ${controller} copy`)
    }
    const pids = ACCOUNTING.find(([c]) => c === 'pids')?.[1]
    if (pids !== undefined) {
      // Tasks are threads: those of every process the tracking hierarchy has in the scope.
      const threads = (): number => cgroupPids(join(HOST.unified ?? HOST.systemdV1!, s.ref.cgroup)).reduce((n, pid) => n + readdirSync(`/proc/${pid}/task`).length, 0)
      await eventually(() => Number(readFileSync(join(pids, s.ref.cgroup, 'pids.current'), 'utf8')) === threads(), 5000, 'pids.current to count the scope\'s threads')
    }
    const memory = ACCOUNTING.find(([c]) => c === 'memory')?.[1]
    if (memory !== undefined) {
      await eventually(() => Number(readFileSync(join(memory, s.ref.cgroup, 'memory.usage_in_bytes'), 'utf8')) >= 32 << 20, 10_000, 'the leader\'s 32 MiB charged to the scope')
    }
  })

  void it('MemoryAccounting=no and TasksAccounting=no keep the scope out of those hierarchies, unless a limit needs one', async () => {
    const off = (name: string): { name: string; signature: string; value: boolean } => ({ name, signature: 'b', value: false })
    const s = await start({ unenforced: [off('MemoryAccounting'), off('TasksAccounting')], tasksMax: 8n }, 'exec sleep 1000', 'exec sleep 1000')
    if (HOST.memoryV1 !== undefined) assert.equal(existsSync(join(HOST.memoryV1, s.ref.cgroup)), false, 'no memory copy')
    if (HOST.pidsV1 !== undefined) assert.equal(readFileSync(join(HOST.pidsV1, s.ref.cgroup, 'pids.max'), 'utf8'), '8\n', 'TasksMax= still needs the pids copy')
    assert.deepEqual(s.log.messages('debug').filter((m) => /only a service manager can honour/.test(m)), [], 'honoured, so not logged as ignored')
  })

  void it('the v1 copies go with the scope once it is empty, depth first (a cgroup made below a copy does not keep it)', async () => {
    const s = await start({}, 'exec sleep 1000', 'exec sleep 1000')
    for (const [, mount] of ACCOUNTING) mkdirSync(join(mount, s.ref.cgroup, 'payload'))
    await s.units.release(s.ref)
    await s.units.kill(s.ref, 9)
    const copies = [HOST.unified, HOST.systemdV1, ...ACCOUNTING.map(([, m]) => m)].filter((m) => m !== undefined).map((m) => join(m, s.ref.cgroup))
    await eventually(() => copies.every((d) => !existsSync(d)), 5000, 'every copy of the scope to go')
  })
})
