// The client library as a manager uses it: `import { connect } from
// 'machined-ts'`, three lines to register, the same calls and the same
// typed errors over Varlink and D-Bus, MachineNew/MachineRemoved as an
// async iterator, and "register if available" where no machined runs.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  connect, connectIfAvailable, MachineExistsError, MachinedError, NoPrivateNetworkingError, NoSuchMachineError, registerIfAvailable,
  type MachinedClient,
} from 'machined-ts'
import { eventually, REPO, Sandbox } from '../helpers/sandbox.ts'
import { listMachineNames } from '../helpers/busctl.ts'

describe('the client library', () => {
  let sb: Sandbox
  let options: { busAddress: string; varlinkSocket: string }
  before(async () => {
    sb = await Sandbox.start()
    // Reach the sandbox's private /run from out here.
    options = { busAddress: `unix:path=${sb.hostPath('/run/dbus/system_bus_socket')}`, varlinkSocket: sb.hostPath('/run/systemd/machine/io.systemd.Machine') }
  })
  after(async () => { await sb?.stop() })

  it('connect() prefers Varlink when its socket exists', async () => {
    const auto = await connect(options)
    assert.equal(auto.transport, 'varlink')
    auto.close()
    const dbus = await connect({ ...options, transport: 'dbus' })
    assert.equal(dbus.transport, 'dbus')
    dbus.close()
  })

  for (const transport of ['varlink', 'dbus'] as const) {
    describe(`over ${transport}`, () => {
      let machined: MachinedClient
      before(async () => { machined = await connect({ ...options, transport }) })
      after(() => { machined.close() })

      it('registers in three lines, lists, describes and unregisters', async () => {
        const leader = await sb.spawnLeader()
        const name = sb.name(`sdk-${transport}`)
        await machined.register({ name, class: 'container', leader: leader.pid!, service: 'sdk-test', id: '00112233-4455-6677-8899-aabbccddeeff', rootDirectory: '/srv/x' })
        assert.ok((await machined.list()).some((m) => m.name === name && m.class === 'container' && m.service === 'sdk-test'))
        assert.ok((await listMachineNames(sb)).includes(name), 'real busctl sees it')
        const d = await machined.get(name)
        assert.equal(d.id, '00112233445566778899aabbccddeeff')
        assert.equal(d.leader, leader.pid)
        assert.equal(d.rootDirectory, '/srv/x')
        assert.match(d.unit, /^machine-.*\.scope$/)
        assert.ok(d.timestamp.realtime > 1_700_000_000_000_000n)
        assert.equal((await machined.osRelease(name)).ID, 'debian')
        assert.equal(await machined.uidShift(name), 0)
        await assert.rejects(machined.addresses(name), NoPrivateNetworkingError)
        await machined.unregister(name)
        assert.ok(!(await machined.list()).some((m) => m.name === name))
      })

      it('throws the same typed errors', async () => {
        const err = await machined.get('nosuch').then(() => undefined, (e: unknown) => e)
        assert.ok(err instanceof NoSuchMachineError)
        assert.ok(err instanceof MachinedError)
        assert.equal(err.code, 'NO_SUCH_MACHINE')
        assert.equal(err.message, "No machine 'nosuch' known")
        const leader = await sb.spawnLeader()
        const name = sb.name(`dup-${transport}`)
        await machined.register({ name, class: 'vm', leader: leader.pid! })
        const other = await sb.spawnLeader()
        const dup = await machined.register({ name, class: 'vm', leader: other.pid! }).then(() => undefined, (e: unknown) => e)
        assert.ok(dup instanceof MachineExistsError)
        assert.equal(dup.message, `Machine '${name}' already exists`)
        const bad = await machined.register({ name: 'a_b', class: 'vm', leader: other.pid! }).then(() => undefined, (e: unknown) => e)
        assert.ok(bad instanceof MachinedError)
        assert.equal(bad.code, 'INVALID_ARGS')
        await machined.kill(name, { whom: 'leader', signal: 9 })
        await eventually(() => leader.signalCode === 'SIGKILL', 5000, 'the kill to land')
      })

      it('watch() yields MachineNew and MachineRemoved', async () => {
        const ac = new AbortController()
        const events = machined.watch({ signal: ac.signal })
        const seen: string[] = []
        const collecting = (async () => { for await (const e of events) seen.push(`${e.type}:${e.name}`) })()
        const leader = await sb.spawnLeader()
        const name = sb.name(`watch-${transport}`)
        await new Promise((r) => setTimeout(r, 200)) // the match rule reaches the bus
        await machined.register({ name, class: 'container', leader: leader.pid! })
        await machined.terminate(name)
        await eventually(() => seen.includes(`removed:${name}`), 5000, 'MachineRemoved')
        assert.deepEqual(seen.filter((s) => s.endsWith(name)), [`new:${name}`, `removed:${name}`])
        ac.abort()
        await collecting
      })
    })
  }

  it('the README example runs as written', async () => {
    const name = sb.name('example')
    const r = await sb.exec(['node', `${REPO}/examples/register.mjs`, name])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`^${name}: leader \\d+, unit machine-.*\\.scope, over varlink\n$`))
  })

  it('where no machined runs, connectIfAvailable and registerIfAvailable give undefined', async () => {
    const nowhere = { busAddress: 'unix:path=/nonexistent/bus', varlinkSocket: '/nonexistent/socket' }
    assert.equal(await connectIfAvailable(nowhere), undefined)
    assert.equal(await registerIfAvailable({ name: 'x', class: 'vm' }, nowhere), undefined)
  })
})
