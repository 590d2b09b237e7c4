// kill -9 of the daemon at random points while 1,000 registrations and a
// few hundred terminations, unregistrations and leader deaths are under
// way over both transports, with real processes as leaders. After every
// restart, whatever the crash interrupted: every machine whose
// registration was answered, that nobody ended and whose leader lives is
// listed, with the properties it was registered with, over D-Bus and
// Varlink alike; none whose leader died or that was unregistered is; a
// registration that got no answer is either complete or absent; the state
// directory holds a file and a unit: link for exactly the listed machines
// and no temporary file; and no empty scope of ours is left in
// machine.slice in either hierarchy (a scope made by a registration the
// crash cut short holds its leader, and goes once the leader does). A
// quarter of the leaders ignore SIGTERM, with a stop timeout of 0.4 s: a
// termination that was answered must be carried out (SIGKILL) even when
// the daemon died before its timeout. At the end every leader dies and
// everything must go. Deterministic in its
// choices (CRASH_SEED picks another run), not in the kernel's timing.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { trackingHierarchies } from '../../src/linux/cgroup-layout.ts'
import { machineScopeName } from '../../src/protocol/unit-name.ts'
import { DBusError, variant, type BusConnection } from '../../src/wire/dbus/bus.ts'
import { MANAGER_IFACE, MANAGER_PATH as MANAGER } from '../helpers/busctl.ts'
import { busOf, DEST, VarlinkCaller } from '../helpers/clients.ts'
import { prng, type Rand } from '../helpers/fuzz.ts'
import { eventually, Sandbox } from '../helpers/sandbox.ts'

const SEED = Number(process.env.CRASH_SEED ?? 0xc7a5d)
const REGISTRATIONS = 1000
const LEADER_BATCH = 250
/** The batch of leaders that ignore SIGTERM (registered over D-Bus, with TimeoutStopUSec). */
const STUBBORN_BATCH = 1
const STOP_TIMEOUT_USEC = 400_000n
/** Registrations sent before the daemon is killed, at most (the point is random below it). */
const MAX_PER_ROUND = 240
/** D-Bus calls in flight per connection (the daemon allows 128 per sender). */
const DBUS_WINDOW = 48
/** D-Bus errors that mean the daemon died before answering: the outcome is unknown. */
const LOST = new Set(['org.freedesktop.DBus.Error.NoReply', 'org.freedesktop.DBus.Error.ServiceUnknown', 'org.freedesktop.DBus.Error.NameHasNoOwner'])

type Transport = 'dbus' | 'varlink'
type Outcome = 'acked' | 'lost' | 'failed'

interface Planned {
  readonly name: string
  readonly pid: number
  readonly startTime: string
  readonly transport: Transport
  readonly stubborn: boolean
  readonly cls: 'container' | 'vm'
  readonly service: string
  readonly root: string
  readonly id: string
  reg: Outcome | 'unsent' | 'sent'
  end?: { kind: 'terminate' | 'unregister' | 'kill'; outcome: Outcome | 'sent' }
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19]
  } catch {
    return undefined
  }
}

function alive(p: Planned): boolean {
  return startTimeOf(p.pid) === p.startTime
}

/**
 * `n` sleeps forked by one shell, which reaps each as it dies (so a dead
 * leader is gone, not a zombie); `stubborn`: they ignore SIGTERM (an
 * ignored signal stays ignored across fork and exec).
 */
async function spawnLeaders(n: number, stubborn: boolean): Promise<{ shell: ChildProcess; pids: number[] }> {
  const ignore = stubborn ? 'trap "" TERM; ' : ''
  const shell = spawn('sh', ['-c', `${ignore}i=0; while [ $i -lt ${n} ]; do sleep 1000 & echo $!; i=$((i+1)); done; echo done; wait`], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  await new Promise<void>((resolve, reject) => {
    shell.stdout.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('done\n')) resolve() })
    shell.once('exit', () => reject(new Error('leader shell exited early')))
  })
  return { shell, pids: out.split('\n').filter((l) => /^\d+$/.test(l)).map(Number) }
}

function pick<T>(rand: Rand, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)]!
}

describe('kill -9 of the daemon during concurrent registrations and terminations', () => {
  let sb: Sandbox
  let hierarchies: string[] = []
  const shells: ChildProcess[] = []
  const planned: Planned[] = []
  const byName = new Map<string, Planned>()
  let buses: BusConnection[] = []

  before(async () => {
    sb = await Sandbox.start()
    // Every hierarchy the sandbox's layout tracks processes in, as this process reaches it.
    hierarchies = trackingHierarchies(sb.cgroupLayout).map((h) => sb.hostPath(h))
  })
  after(async () => {
    for (const b of buses) b.close()
    for (const p of planned) { try { process.kill(p.pid, 'SIGKILL') } catch { /* gone */ } }
    for (const s of shells) s.kill('SIGKILL')
    await sb?.stop()
  })

  /** Whatever both transports list, the state directory holds and machine.slice contains must agree with what was planned. */
  async function check(label: string): Promise<number> {
    const bus = buses[0]!
    const [rows] = await bus.call(DEST, MANAGER, MANAGER_IFACE, 'ListMachines', '', []) as [[string, string, string, string][]]
    const dbusListed = rows.filter((r) => r[0] !== '.host')
    const vl = await VarlinkCaller.connect(sb)
    const vlListed = (await vl.stream('io.systemd.Machine.List')).map((f) => f.parameters as Record<string, unknown>).filter((m) => m.name !== '.host')
    vl.close()
    const names = dbusListed.map((r) => r[0]).sort()
    // Machines being terminated may go at any moment while we look (their stop timeout runs out): their traces may be there or not.
    const volatile = new Set(planned.filter((p) => p.end?.kind === 'terminate').map((p) => p.name))
    const settled = names.filter((n) => !volatile.has(n))
    assert.deepEqual(vlListed.map((m) => m.name as string).filter((n) => !volatile.has(n)).sort(), settled, `${label}: both transports list the same machines`)

    // Every listed machine: one we registered, leader alive, properties as sent.
    const props = new Map<string, Record<string, { value: unknown }>>()
    for (let i = 0; i < dbusListed.length; i += 64) {
      await Promise.all(dbusListed.slice(i, i + 64).map(async ([name, , , path]) => {
        try {
          const [all] = await bus.call(DEST, path, 'org.freedesktop.DBus.Properties', 'GetAll', 's', ['']) as [Record<string, { value: unknown }>]
          props.set(name, all)
        } catch (err) {
          if (!volatile.has(name)) throw err
        }
      }))
    }
    const vlByName = new Map(vlListed.map((m) => [m.name as string, m]))
    for (const name of names) {
      const p = byName.get(name)
      assert.ok(p !== undefined, `${label}: ${name} is one of ours`)
      // A machine being terminated may lose its leader while we look (its stop timeout runs out): it goes right after.
      assert.ok(alive(p) || p.end?.kind === 'terminate', `${label}: ${name} is listed but its leader ${p.pid} is dead`)
      assert.ok(p.reg !== 'failed' && p.reg !== 'unsent', `${label}: ${name} is listed but its registration ${p.reg}`)
      assert.ok(!(p.end?.kind === 'unregister' && p.end.outcome === 'acked'), `${label}: ${name} is listed after UnregisterMachine was answered`)
      const unit = machineScopeName(name)
      const d = props.get(name)
      const v = vlByName.get(name)
      if (volatile.has(name) && (d === undefined || v === undefined)) continue
      assert.ok(d !== undefined && v !== undefined)
      // Terminated (answered): closing until it is gone; cut off by the crash: either.
      const state = p.end?.kind === 'terminate' && (p.end.outcome === 'acked' || d.State?.value === 'closing') ? 'closing' : 'running'
      assert.deepEqual(
        { name: d.Name?.value, cls: d.Class?.value, service: d.Service?.value, leader: d.Leader?.value, root: d.RootDirectory?.value, unit: d.Unit?.value, id: Buffer.from(d.Id?.value as Uint8Array).toString('hex'), state: d.State?.value },
        { name, cls: p.cls, service: p.service, leader: p.pid, root: p.root, unit, id: p.id, state },
        `${label}: D-Bus properties of ${name}`)
      assert.deepEqual(
        { name: v.name, cls: v.class, service: v.service, leader: (v.leader as { pid: number }).pid, root: v.rootDirectory, unit: v.unit, id: v.id },
        { name, cls: p.cls, service: p.service, leader: p.pid, root: p.root, unit, id: p.id },
        `${label}: Varlink fields of ${name}`)
    }
    // Every machine that must be there is.
    const listedSet = new Set(names)
    for (const p of planned) {
      if (p.reg === 'acked' && p.end === undefined && alive(p)) assert.ok(listedSet.has(p.name), `${label}: ${p.name} (registered, leader ${p.pid} alive) is missing`)
    }

    // The state directory: a file and a link per listed machine, nothing else.
    const dir = sb.hostPath('/run/systemd/machines')
    const files: string[] = []
    const links: string[] = []
    for (const f of readdirSync(dir)) {
      try {
        if (lstatSync(join(dir, f)).isSymbolicLink()) links.push(`${f} -> ${readlinkSync(join(dir, f))}`)
        else files.push(f)
      } catch (err) {
        // Removed since readdir: only a machine being terminated may go now.
        assert.ok(volatile.has(f.startsWith('unit:') ? [...volatile].find((n) => f === `unit:${machineScopeName(n)}`) ?? f : f), `${label}: ${f} vanished: ${String(err)}`)
      }
    }
    const steady = (list: string[], name: (entry: string) => string): string[] => list.filter((e) => !volatile.has(name(e))).sort()
    assert.deepEqual(steady(files, (f) => f), settled, `${label}: state files`)
    for (const f of files) assert.ok(listedSet.has(f) || volatile.has(f), `${label}: stray state file ${f}`)
    const linkName = (l: string): string => l.slice(l.indexOf(' -> ') + 4)
    assert.deepEqual(steady(links, linkName), settled.map((n) => `unit:${machineScopeName(n)} -> ${n}`).sort(), `${label}: unit: links`)
    for (const l of links) assert.ok(l === `unit:${machineScopeName(linkName(l))} -> ${linkName(l)}` && (listedSet.has(linkName(l)) || volatile.has(linkName(l))), `${label}: stray link ${l}`)

    // machine.slice: our listed machines' scopes hold their leaders; any other scope of ours holds a live process.
    const ourScopes = new Map(planned.map((p) => [machineScopeName(p.name), p]))
    for (const h of hierarchies) {
      const slice = join(h, 'machine.slice')
      if (!existsSync(slice)) continue
      for (const scope of readdirSync(slice)) {
        const p = ourScopes.get(scope)
        if (p === undefined || volatile.has(p.name)) continue
        const procs = readFileSync(join(slice, scope, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '').map(Number)
        assert.ok(procs.length > 0, `${label}: empty scope ${h}/machine.slice/${scope} left behind (${JSON.stringify({ ...p, alive: alive(p), listed: listedSet.has(p.name) })})`)
        if (listedSet.has(p.name)) assert.ok(procs.includes(p.pid), `${label}: ${scope} holds its leader in ${h}`)
      }
    }
    for (const name of settled) {
      for (const h of hierarchies) assert.ok(existsSync(join(h, 'machine.slice', machineScopeName(name))), `${label}: ${name}'s scope in ${h}`)
    }
    return names.length
  }

  it(`keeps every live machine and drops every dead one across kill -9 at random points during ${REGISTRATIONS} registrations`, async (t) => {
    const started = Date.now()
    const rand = prng(SEED)
    // Leaders, in a few batches.
    for (let i = 0; i < REGISTRATIONS; i += LEADER_BATCH) {
      const stubborn = i / LEADER_BATCH === STUBBORN_BATCH
      const { shell, pids } = await spawnLeaders(Math.min(LEADER_BATCH, REGISTRATIONS - i), stubborn)
      shells.push(shell)
      for (const pid of pids) {
        const n = planned.length
        const transport: Transport = stubborn || n % 2 === 0 ? 'dbus' : 'varlink'
        const p: Planned = {
          name: sb.name(`rl-c${n}`), pid, startTime: startTimeOf(pid)!, transport, stubborn, cls: rand() < 0.8 ? 'container' : 'vm',
          service: `rl-crash-${transport}`, root: `/srv/rl-${n}`, id: Buffer.from(Array.from({ length: 16 }, () => Math.floor(rand() * 256))).toString('hex'),
          reg: 'unsent',
        }
        planned.push(p)
        byName.set(p.name, p)
      }
    }
    assert.equal(planned.length, REGISTRATIONS)
    buses = await Promise.all([busOf(sb), busOf(sb)])

    let next = 0
    let kills = 0
    let checks = 0
    let machinesChecked = 0
    let killedWhileDown = 0
    /** Stubborn leaders still alive at a restart although their termination was answered: the restarted daemon must stop them. */
    let stubbornStopped = 0
    const ends = { terminate: 0, unregister: 0, kill: 0 }
    const errors = new Map<string, number>()
    while (next < planned.length) {
      const vls = await Promise.all([VarlinkCaller.connect(sb), VarlinkCaller.connect(sb)])
      const threshold = Math.floor(rand() * MAX_PER_ROUND)
      let acks = 0
      let dead = false
      let wake: (() => void) | undefined
      const slots = new Map<BusConnection, number>(buses.map((b) => [b, 0]))
      const inFlight = new Set<Promise<void>>()
      const classify = (err: unknown): Outcome => {
        if (err instanceof DBusError) {
          if (LOST.has(err.type)) return 'lost'
          errors.set(err.type, (errors.get(err.type) ?? 0) + 1)
          return 'failed'
        }
        if (err instanceof Error && err.message === 'connection closed') return 'lost'
        errors.set(String(err), (errors.get(String(err)) ?? 0) + 1)
        return 'failed'
      }
      const track = (work: Promise<void>): void => {
        const done = work.finally(() => { inFlight.delete(done); wake?.() })
        inFlight.add(done)
      }
      const dbusCall = async (member: string, sig: string, body: unknown[]): Promise<void> => {
        const bus = [...slots].sort((a, b) => a[1] - b[1])[0]![0]
        slots.set(bus, slots.get(bus)! + 1)
        try {
          await bus.call(DEST, MANAGER, MANAGER_IFACE, member, sig, body)
        } finally {
          slots.set(bus, slots.get(bus)! - 1)
        }
      }
      const varlinkCall = async (method: string, parameters: Record<string, unknown>): Promise<void> => {
        const r = await pick(rand, vls).call(method, parameters)
        if (r.error !== undefined) throw new DBusError(r.error as string, [JSON.stringify(r.parameters ?? {})])
      }
      const end = (p: Planned): void => {
        const r = rand()
        const kind = r < 0.4 ? 'terminate' : r < 0.7 ? 'unregister' : 'kill'
        p.end = { kind, outcome: 'sent' }
        ends[kind]++
        if (kind === 'kill') {
          process.kill(p.pid, 'SIGKILL')
          p.end.outcome = 'acked'
          return
        }
        const useDbus = rand() < 0.5
        const work = useDbus
          ? dbusCall(kind === 'terminate' ? 'TerminateMachine' : 'UnregisterMachine', 's', [p.name])
          : varlinkCall(kind === 'terminate' ? 'io.systemd.Machine.Terminate' : 'io.systemd.Machine.Unregister', { name: p.name })
        track(work.then(() => { p.end!.outcome = 'acked' }, (err: unknown) => { p.end!.outcome = classify(err) }))
      }
      // Some machines of earlier rounds end now, while this round's registrations run.
      for (const p of planned) if (p.reg === 'acked' && p.end === undefined && alive(p) && rand() < 0.1) end(p)
      const register = (p: Planned): void => {
        p.reg = 'sent'
        const scope = p.stubborn ? [['TimeoutStopUSec', variant('t', STOP_TIMEOUT_USEC)]] : []
        const work = p.transport === 'dbus'
          ? dbusCall('CreateMachine', 'sayssusa(sv)', [p.name, Buffer.from(p.id, 'hex'), p.service, p.cls, p.pid, p.root, scope])
          : varlinkCall('io.systemd.Machine.Register', { name: p.name, id: p.id, service: p.service, class: p.cls, leader: p.pid, rootDirectory: p.root, allocateUnit: true })
        track(work.then(() => {
          p.reg = 'acked'
          acks++
          if (!dead && rand() < 0.3) end(p)
        }, (err: unknown) => { p.reg = classify(err) }))
      }
      const killer = (async () => {
        while (acks < threshold && next < planned.length) await new Promise<void>((resolve) => setTimeout(resolve, 2))
        dead = true
        await sb.stopDaemon('SIGKILL')
        kills++
      })()
      while (!dead && next < planned.length) {
        if (inFlight.size >= 2 * DBUS_WINDOW) {
          await new Promise<void>((resolve) => { wake = resolve })
          continue
        }
        register(planned[next++]!)
        // Let replies in now and then, so registrations and their answers interleave.
        if (next % 8 === 0) await new Promise<void>((resolve) => setImmediate(resolve))
      }
      await killer
      await Promise.all(inFlight)
      for (const v of vls) v.close()
      // Some leaders die while no daemon runs.
      for (const p of planned) {
        if (p.reg !== 'unsent' && p.end === undefined && alive(p) && rand() < 0.05) {
          process.kill(p.pid, 'SIGKILL')
          p.end = { kind: 'kill', outcome: 'acked' }
          killedWhileDown++
        }
      }
      await eventually(() => planned.every((p) => p.end?.kind !== 'kill' || !alive(p)), 5000, 'killed leaders to be reaped')
      await sb.startDaemon()
      machinesChecked += await check(`after kill ${kills}`)
      checks++
      // Every termination that was answered is carried out, across the crash: stubborn leaders get SIGKILL after their timeout.
      const answered = (p: Planned): boolean => p.end?.kind === 'terminate' && p.end.outcome === 'acked'
      stubbornStopped += planned.filter((p) => p.stubborn && answered(p) && alive(p)).length
      await eventually(() => planned.every((p) => !answered(p) || !alive(p)), 5000, 'every answered termination to be carried out')
    }

    assert.deepEqual([...errors], [], 'no call failed other than by the crash')
    const sent = planned.filter((p) => p.reg !== 'unsent').length
    assert.equal(sent, REGISTRATIONS)

    // The end: every leader dies; the restarted daemon must let every machine, file, link and scope go.
    for (const p of planned) { try { process.kill(p.pid, 'SIGKILL') } catch { /* gone */ } }
    await eventually(async () => {
      const [rows] = await buses[0]!.call(DEST, MANAGER, MANAGER_IFACE, 'ListMachines', '', []) as [[string][]]
      return rows.length === 1
    }, 20_000, 'every machine to go once its leader is dead')
    await eventually(() => readdirSync(sb.hostPath('/run/systemd/machines')).length === 0, 5000, 'an empty state directory')
    await eventually(() => hierarchies.every((h) => !planned.some((p) => existsSync(join(h, 'machine.slice', machineScopeName(p.name))))), 10_000, 'every scope of ours to be removed')
    assert.doesNotMatch(sb.daemonLog, /level=error/)
    const ms = Date.now() - started
    const acked = planned.filter((p) => p.reg === 'acked').length
    const lost = planned.filter((p) => p.reg === 'lost').length
    const endsLost = planned.filter((p) => p.end?.outcome === 'lost').length
    t.diagnostic(`reliability crash: seed=${SEED} registrations=${sent} (answered ${acked}, cut off by a crash ${lost}) terminate=${ends.terminate} (stubborn leaders stopped by a restarted daemon: ${stubbornStopped}) unregister=${ends.unregister} leader_kills=${ends.kill + killedWhileDown} (${killedWhileDown} while down) daemon_kill9=${kills} restarts_checked=${checks} machines_checked=${machinesChecked} terminations_cut_off=${endsLost} violations=0 in ${ms} ms`)
  })
})
