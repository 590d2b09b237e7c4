// The running daemon against hostile input: well over 100,000 malformed or
// random-typed D-Bus calls (through dbus-daemon, which checks framing, so
// what reaches us is every signature and every value: wrong types, huge
// strings and arrays, deep variants, bad machine names, object paths of
// no object, fds that are no pidfd) and Varlink messages (random
// parameters of every type, pipelined; and protocol violations on
// connections of their own: broken JSON, invalid UTF-8, truncated frames,
// absurd nesting, both flags, unknown fields, a message over 16 MiB).
// The daemon must answer every call that wants an answer, close every
// connection that broke the protocol, never crash, never log an error
// (an unexpected exception), and leave every registered machine exactly
// as it was: properties over both transports, state files, links, scopes.
// Deterministic (FUZZ_SEED picks another run); bounded in count and time.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { pidfdOpen } from '../../src/backends/native.ts'
import { variant, type BusConnection } from '../../src/wire/dbus/bus.ts'
import { Variant } from '../../src/wire/dbus/variant.ts'
import { busOf, connectVarlink, DEST, FrameReader, outcome, registrySnapshot, VarlinkCaller } from '../helpers/clients.ts'
import { DbusFuzzer, prng, VarlinkFuzzer } from '../helpers/fuzz.ts'
import { callManager, createMachine, registerMachine } from '../helpers/busctl.ts'
import { Sandbox } from '../helpers/sandbox.ts'

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed2026)
const DBUS_CALLS = 60_000
const VARLINK_MESSAGES = 60_000
/** Calls in flight per D-Bus connection: under the daemon's (and dbus-daemon's) 128 per sender. */
const DBUS_WINDOW = 96
const DBUS_CONNECTIONS = 4
const VARLINK_CONNECTIONS = 4
const VARLINK_VIOLATION_RATE = 0.02
const MANAGER = '/org/freedesktop/machine1'
const MANAGER_IFACE = 'org.freedesktop.machine1.Manager'

describe('fuzzing the running daemon', () => {
  let sb: Sandbox
  let bus: BusConnection
  const names: string[] = []
  const paths: string[] = []

  before(async () => {
    sb = await Sandbox.start()
    bus = await busOf(sb)
  })
  after(async () => {
    bus?.close()
    await sb?.stop()
  })

  const snapshot = (): Promise<string> => registrySnapshot(sb, bus)

  it('registers machines of every kind over both transports', async () => {
    const leaders = await Promise.all(Array.from({ length: 8 }, () => sb.spawnLeader()))
    const n = (b: string): string => { const name = sb.name(b); names.push(name); paths.push(`/org/freedesktop/machine1/machine/${name.replace(/-/g, '_2d')}`); return name }
    assert.equal((await registerMachine(sb, { name: n('fz-reg'), leader: leaders[0]!.pid!, root: '/srv/a', id: '00112233445566778899aabbccddeeff' })).ok, true)
    assert.equal((await createMachine(sb, { name: n('fz-create'), leader: leaders[1]!.pid!, properties: ['1', 'TasksMax', 't', '99'] })).ok, true)
    assert.equal((await callManager(sb, 'RegisterMachineWithNetwork', 'sayssusai', n('fz-net'), '0', 'svc', 'vm', leaders[2]!.pid!, '', 2, 1, 7)).ok, true)
    // CreateMachineEx with the leader as a pidfd, as newer systemd-nspawn sends it.
    const props: [string, Variant][] = [
      ['Class', variant('s', 'container')], ['LeaderPIDFD', variant('h', pidfdOpen(leaders[3]!.pid!))], ['Service', variant('s', 'ex')],
      ['VSockCID', variant('u', 77)], ['SSHAddress', variant('s', 'vsock/77')], ['RootDirectory', variant('s', '/srv/ex')],
    ]
    await bus.call(DEST, MANAGER, MANAGER_IFACE, 'CreateMachineEx', 'sa(sv)a(sv)', [n('fz-ex'), props, []])
    const vl = await VarlinkCaller.connect(sb)
    for (const [i, p] of [
      { class: 'container', rootDirectory: '/srv/v', sshAddress: '10.0.0.1', sshPrivateKeyPath: '/k', vSockCid: 99, id: 'ffeeddccbbaa99887766554433221100' },
      { class: 'vm', allocateUnit: true, ifIndices: [1] },
      { class: 'container', service: 's', allocateUnit: true },
      { class: 'vm', service: 'plain' },
    ].entries()) {
      const r = await vl.call('io.systemd.Machine.Register', { name: n(`fz-vl${i}`), leader: leaders[4 + i]!.pid!, ...p })
      assert.deepEqual(r, { parameters: {} })
    }
    vl.close()
    assert.equal(names.length, 8)
  })

  it(`survives ${DBUS_CALLS} random D-Bus calls and ${VARLINK_MESSAGES} random Varlink messages with every machine unchanged`, async (t) => {
    const before = await snapshot()
    const daemon = sb.daemonPid
    const rand = prng(SEED)
    const started = Date.now()

    // ── D-Bus: several connections, each with a window of calls in flight.
    const dbusFuzzer = new DbusFuzzer(rand, { names, paths })
    const outcomes = new Map<string, number>()
    const note = (o: string): void => { outcomes.set(o, (outcomes.get(o) ?? 0) + 1) }
    let sent = 0
    const conns = await Promise.all(Array.from({ length: DBUS_CONNECTIONS }, () => busOf(sb)))
    await Promise.all(conns.map(async (conn) => {
      const inFlight = new Set<Promise<void>>()
      while (sent < DBUS_CALLS) {
        while (inFlight.size < DBUS_WINDOW && sent < DBUS_CALLS) {
          sent++
          const fds: number[] = []
          const c = dbusFuzzer.next(fds)
          let p: Promise<unknown>
          try {
            p = conn.call(DEST, c.path, c.interface, c.member, c.signature, c.body)
          } catch (err) {
            p = Promise.reject(err instanceof Error ? err : new Error(String(err)))
          }
          const done: Promise<void> = outcome(p).then((o) => { note(o); inFlight.delete(done) })
          inFlight.add(done)
        }
        await Promise.race(inFlight)
      }
      await Promise.all(inFlight)
      conn.close()
    }))
    const dbusMs = Date.now() - started
    const local = [...outcomes].filter(([o]) => o.startsWith('local:'))
    assert.deepEqual(local, [], 'every call could be sent and was answered')
    assert.equal([...outcomes.values()].reduce((a, b) => a + b, 0), DBUS_CALLS)
    // A daemon that vanished would turn the rest into NoReply/ServiceUnknown.
    assert.equal(outcomes.get('org.freedesktop.DBus.Error.NoReply') ?? 0, 0)
    assert.equal(outcomes.get('org.freedesktop.DBus.Error.ServiceUnknown') ?? 0, 0)

    // ── Varlink: pipelined calls on long-lived connections; violations on connections of their own.
    const vlStarted = Date.now()
    const vlFuzzer = new VarlinkFuzzer(rand, { names })
    let calls = 0
    let finals = 0
    let wanted = 0
    let violations = 0
    let closedOnViolation = 0
    const violationJobs: Promise<void>[] = []
    const runViolation = async (bytes: Buffer, endAfter: boolean): Promise<void> => {
      const s = await connectVarlink(sb)
      s.on('error', () => undefined)
      const closed = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 10_000)
        s.once('close', () => { clearTimeout(timer); resolve(true) })
      })
      s.on('data', () => undefined)
      s.write(bytes)
      if (endAfter) s.end()
      if (await closed) closedOnViolation++
      s.destroy()
    }
    const perConnection = Math.ceil(VARLINK_MESSAGES / VARLINK_CONNECTIONS)
    await Promise.all(Array.from({ length: VARLINK_CONNECTIONS }, async () => {
      const s = await connectVarlink(sb)
      const reader = new FrameReader()
      let expected = 0
      let got = 0
      let wake: (() => void) | undefined
      s.on('data', (chunk: Buffer) => {
        reader.push(chunk)
        for (const f of reader.frames.splice(0)) if (!f.includes('"continues":true')) got++
        wake?.()
      })
      const closed = new Promise<void>((resolve) => s.once('close', () => resolve()))
      s.on('error', () => undefined)
      for (let i = 0; i < perConnection; i++) {
        const m = vlFuzzer.next(VARLINK_VIOLATION_RATE)
        if (m.kind === 'violation') {
          violations++
          violationJobs.push(runViolation(m.bytes, m.endAfter))
          if (violationJobs.length % 16 === 0) await Promise.all(violationJobs.slice(-16))
          continue
        }
        calls++
        if (m.final) expected++
        s.write(m.bytes)
        // Keep at most a few hundred unanswered, as a sane client would.
        while (expected - got > 256) await new Promise<void>((resolve) => { wake = resolve })
      }
      while (got < expected) {
        await Promise.race([new Promise<void>((resolve) => { wake = resolve }), closed.then(() => { throw new Error(`connection closed with ${expected - got} calls unanswered`) })])
      }
      finals += got
      wanted += expected
      s.destroy()
    }))
    await Promise.all(violationJobs)
    // One message over the 16 MiB limit: ENOBUFS, then the connection closes.
    const huge = Buffer.concat([Buffer.from('{"method":"io.systemd.Machine.List","parameters":{"name":"'), Buffer.alloc(17 * 1024 * 1024, 0x78), Buffer.from('"}}\0')])
    violations++
    await runViolation(huge, false)
    const vlMs = Date.now() - vlStarted

    assert.equal(finals, wanted, 'every call that wants a reply got its final reply')
    assert.equal(closedOnViolation, violations, 'every connection that broke the protocol was closed')
    // The daemon is the same process, up, with nothing unexpected logged.
    assert.equal(sb.daemonPid, daemon)
    assert.equal(sb.execSync(['busctl', 'call', DEST, MANAGER, 'org.freedesktop.DBus.Peer', 'Ping']).code, 0)
    assert.doesNotMatch(sb.daemonLog, /level=error/)
    const afterwards = await snapshot()
    assert.equal(afterwards, before, 'every machine is exactly as it was')

    const total = DBUS_CALLS + calls + violations
    const top = [...outcomes].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([o, n]) => `${o.replace('org.freedesktop.', '')}=${n}`).join(' ')
    t.diagnostic(`reliability fuzz: seed=${SEED} dbus_calls=${DBUS_CALLS} in ${dbusMs} ms; varlink_calls=${calls} answered=${finals} violations=${violations} closed=${closedOnViolation} in ${vlMs} ms; total=${total} daemon_crashes=0 machines_changed=0`)
    t.diagnostic(`reliability fuzz: dbus answers ${top}`)
  })
})
