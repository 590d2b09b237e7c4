// The daemon's limits, set low on its command line, each reached with real
// clients over the transport it guards, each answered with its error:
// machines in all (--max-machines) on both transports; Varlink connections
// per UID and in all (ETOOMANYREFS, then the connection closes); D-Bus
// calls in flight per sender and long-running operations under way
// (LimitsExceeded). The per-UID machine limit is exercised in
// denial.test.ts, the Varlink message size in fuzz.test.ts.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import type { BusConnection } from '../../src/wire/dbus/bus.ts'
import { asUser, callManager, createMachine, MANAGER_IFACE, MANAGER_PATH as MANAGER } from '../helpers/busctl.ts'
import { busOf, connectVarlink, DEST, FrameReader, outcome, VarlinkCaller } from '../helpers/clients.ts'
import { Sandbox } from '../helpers/sandbox.ts'
import { call1, concurrent } from '../helpers/varlink-py.ts'

const TOO_MANY_REFS = { error: 'io.systemd.System', parameters: { errno: 109, errnoName: 'ETOOMANYREFS', origin: 'linux' } }

/** The first frame the server sends on `socket`, and whether it then closes. */
function firstFrame(socket: Socket): Promise<{ frame: unknown; closed: boolean }> {
  return new Promise((resolve) => {
    const reader = new FrameReader()
    let frame: unknown
    socket.on('data', (chunk: Buffer) => { reader.push(chunk); if (frame === undefined && reader.frames.length > 0) frame = JSON.parse(reader.frames[0]!) })
    socket.once('close', () => resolve({ frame, closed: true }))
    setTimeout(() => resolve({ frame, closed: false }), 3000).unref()
  })
}

describe('limits, as the daemon enforces them', () => {
  let sb: Sandbox
  let buses: BusConnection[] = []

  before(async () => {
    sb = await Sandbox.start({
      hidePolicies: true,
      daemonArgs: ['--max-machines=3', '--max-varlink-connections=4', '--max-varlink-connections-per-uid=3', '--max-calls-per-sender=4', '--max-operations=1'],
    })
  })
  after(async () => {
    for (const b of buses) b.close()
    await sb?.stop()
  })

  it('--max-machines: the next registration is LimitsExceeded on D-Bus and ENOBUFS on Varlink, until a place frees', async (t) => {
    const leaders = await Promise.all(Array.from({ length: 5 }, () => sb.spawnLeader()))
    const names = leaders.map((_, i) => sb.name(`rl-lim${i}`))
    for (let i = 0; i < 3; i++) assert.equal((await createMachine(sb, { name: names[i]!, leader: leaders[i]!.pid! })).ok, true)
    const over = await createMachine(sb, { name: names[3]!, leader: leaders[3]!.pid! })
    assert.equal(over.errorName, 'org.freedesktop.DBus.Error.LimitsExceeded')
    assert.equal(over.errorMessage, 'Too many machines registered (3)')
    const vover = await call1(sb, 'io.systemd.Machine.Register', { name: names[4]!, class: 'container', leader: leaders[4]!.pid! })
    assert.deepEqual(vover, { error: 'io.systemd.System', parameters: { origin: 'linux', errno: 105, errnoName: 'ENOBUFS' } })
    assert.equal((await callManager(sb, 'UnregisterMachine', 's', names[0]!)).ok, true)
    assert.deepEqual(await call1(sb, 'io.systemd.Machine.Register', { name: names[4]!, class: 'container', leader: leaders[4]!.pid! }), { parameters: {} })
    t.diagnostic('reliability limits: machines: 4th of 3 refused on both transports')
  })

  it('--max-varlink-connections(-per-uid): a connection over either limit gets ETOOMANYREFS and is closed; the others keep working', async (t) => {
    const held = await Promise.all([0, 1, 2].map(() => VarlinkCaller.connect(sb)))
    const perUid = await connectVarlink(sb)
    perUid.write(`${JSON.stringify({ method: 'io.systemd.Machine.List', parameters: { name: '.host' } })}\0`)
    assert.deepEqual(await firstFrame(perUid), { frame: TOO_MANY_REFS, closed: true })
    // nobody has connections of its own to spare, but only one place is left in all.
    const other = await concurrent(sb, 2, { method: 'io.systemd.Machine.List', parameters: { name: '.host' } }, asUser())
    assert.equal(other.connected, 2)
    const replies = Object.entries(other.replies).map(([json, count]) => ({ reply: JSON.parse(json) as Record<string, unknown>, count }))
    assert.deepEqual(replies.filter((r) => r.reply.error !== undefined), [{ reply: TOO_MANY_REFS, count: 1 }], JSON.stringify(other.replies))
    assert.deepEqual(replies.filter((r) => r.reply.error === undefined).map((r) => [(r.reply.parameters as { name: string }).name, r.count]), [['.host', 1]])
    for (const c of held) assert.equal(((await c.call('io.systemd.Machine.List', { name: '.host' })).parameters as { name: string }).name, '.host')
    for (const c of held) c.close()
    t.diagnostic('reliability limits: varlink connections: 4th of root\'s (limit 3 per UID) and 5th in all (limit 4) refused with ETOOMANYREFS')
  })

  it('--max-calls-per-sender and --max-operations: calls over either are LimitsExceeded at once', async (t) => {
    buses = await Promise.all([0, 1, 2, 3].map(() => busOf(sb)))
    // One sender, 40 calls sent at once: 4 may be in flight.
    const burst = await Promise.all(Array.from({ length: 40 }, () => outcome(buses[0]!.call(DEST, MANAGER, MANAGER_IFACE, 'GetMachineOSRelease', 's', ['.host']))))
    const perSender = burst.filter((o) => o === 'org.freedesktop.DBus.Error.LimitsExceeded').length
    assert.ok(burst.filter((o) => o === 'ok').length >= 4, burst.join(' '))
    assert.ok(perSender > 0, 'some calls were over the limit')
    const [message] = await buses[0]!.call(DEST, MANAGER, MANAGER_IFACE, 'GetMachineOSRelease', 's', ['.host']).then(() => [''], (e: Error) => [e.message])
    assert.equal(message, '', 'once the burst is answered, calls pass again')
    // Four senders, four calls each, each looking into a network namespace (an operation): one at a time.
    const ops = (await Promise.all(buses.map((b) => Promise.all(Array.from({ length: 4 }, () =>
      b.call(DEST, MANAGER, MANAGER_IFACE, 'GetMachineAddresses', 's', ['.host']).then(() => 'ok', (e: Error) => e.message)))))).flat()
    assert.ok(ops.includes('ok'))
    const tooMany = ops.filter((o) => o === 'Too many ongoing operations.').length
    assert.ok(tooMany > 0, ops.join(' | '))
    assert.deepEqual(ops.filter((o) => o !== 'ok' && o !== 'Too many ongoing operations.'), [])
    t.diagnostic(`reliability limits: dbus: ${perSender} of 40 calls over 4 in flight refused; ${tooMany} of 16 operations over 1 refused`)
  })

})
