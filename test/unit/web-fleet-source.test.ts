// machined-web's fleet sources (src/web/fleet-source.ts) on a real
// FleetView fed with encoded keys and values as etcd hands them over: a
// host's machines reach the page as new, changed (only the records the view
// replaced) and removed; two publishers with one hostname get distinct
// names; a host that leaves takes its machines with it (SourceHub.remove);
// remote actions and terminals are refused with NotSupported.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { hostKey, machineKey, type HostInstance } from '../../src/fleet/layout.ts'
import { encodeHostRecord, encodeMachineRecord, type MachineRecord } from '../../src/fleet/records.ts'
import { FleetView } from '../../src/fleet/view.ts'
import { NotSupportedError } from '../../src/protocol/errors.ts'
import type { EventPayloads, EventType } from '../../src/web/api-types.ts'
import { hostKeys, RemoteHostSource } from '../../src/web/fleet-source.ts'
import { SourceHub } from '../../src/web/hub.ts'
import type { SourceEvent } from '../../src/web/source.ts'

const A: HostInstance = { hostId: 'a'.repeat(32), lease: '694d7b2ee4e5d1a5' }
const A2: HostInstance = { hostId: 'b'.repeat(32), lease: '694d7b2ee4e5d1a6' }

const machine = (name: string, over: Partial<MachineRecord> = {}): MachineRecord => ({
  name, id: '', class: 'container', service: 'svc', state: 'running', leader: 42, rootDirectory: '/srv/x', unit: `machine-${name}.scope`,
  timestamp: '1700000000000000', networkInterfaces: [3], vSockCid: undefined, sshAddress: undefined,
  osRelease: { PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)' }, addresses: [{ family: 2, address: '10.0.0.2' }],
  ...over,
})

const b = (s: string): Buffer => Buffer.from(s)
const put = (view: FleetView, i: HostInstance, m: MachineRecord): void => view.apply(b(machineKey(i, m.name)), encodeMachineRecord(m))
const putHost = (view: FleetView, i: HostInstance, hostname: string): void => view.apply(b(hostKey(i)), encodeHostRecord({ hostname, bootId: '', software: 'test' }))

describe('the fleet on the console', () => {
  test('a host\'s machines become rows; only what the view replaced is told again', async () => {
    const view = new FleetView()
    putHost(view, A, 'node1')
    put(view, A, machine('web'))
    put(view, A, machine('db', { class: 'vm' }))
    const source = new RemoteHostSource('node1')
    const events: SourceEvent[] = []
    source.subscribe((e) => events.push(e))
    const machines = (): ReadonlyMap<string, MachineRecord> => view.hosts()[0]!.machines
    source.update(machines())
    assert.deepEqual(events.map((e) => [e.type, e.type === 'removed' ? e.name : e.type === 'samples' ? '' : e.machine.name]), [['new', 'web'], ['new', 'db']])
    assert.deepEqual(source.machines().find((m) => m.name === 'web'), {
      host: 'node1', name: 'web', class: 'container', service: 'svc', id: '', unit: 'machine-web.scope', leader: 42,
      os: 'Debian GNU/Linux 12 (bookworm)', addresses: ['10.0.0.2'], since: 1_700_000_000_000,
    })
    events.length = 0
    source.update(machines())
    assert.equal(events.length, 0, 'nothing changed, nothing told')
    put(view, A, machine('web', { addresses: [{ family: 2, address: '10.0.0.9' }] }))
    view.apply(b(machineKey(A, 'db')), undefined)
    source.update(machines())
    assert.deepEqual(events.map((e) => e.type), ['removed', 'changed'])
    assert.deepEqual(source.machines().map((m) => m.addresses), [['10.0.0.9']])
    const status = await source.status('web')
    assert.deepEqual([status.state, status.rootDirectory, status.interfaces, status.tree, status.sample], ['running', '/srv/x', ['#3'], null, null])
    await assert.rejects(source.act(), NotSupportedError)
    await assert.rejects(source.openTerminal(), NotSupportedError)
  })

  test('two publishers with one hostname are told apart; unique ones keep their hostname', () => {
    const view = new FleetView()
    putHost(view, A, 'twin')
    putHost(view, A2, 'twin')
    assert.deepEqual([...hostKeys(view.hosts()).keys()].sort(), [`twin (aaaaaaaa, lease ${A.lease})`, `twin (bbbbbbbb, lease ${A2.lease})`])
    putHost(view, A2, 'other')
    assert.deepEqual([...hostKeys(view.hosts()).keys()].sort(), ['other', 'twin'])
  })

  test('a host that leaves the hub takes its machines with it', () => {
    const hub = new SourceHub()
    const told: [EventType, unknown][] = []
    hub.subscribe(<T extends EventType>(type: T, payload: EventPayloads[T]) => { told.push([type, payload]) })
    const source = new RemoteHostSource('node1')
    hub.add(source)
    const view = new FleetView()
    putHost(view, A, 'node1')
    put(view, A, machine('web'))
    source.update(view.hosts()[0]!.machines)
    assert.deepEqual(hub.machines().map((m) => [m.host, m.name]), [['node1', 'web']])
    hub.remove('node1')
    assert.deepEqual(told.map(([t]) => t), ['new', 'removed'])
    assert.deepEqual(told[1]![1], { host: 'node1', name: 'web' })
    assert.deepEqual(hub.machines(), [])
    assert.throws(() => hub.source('node1'), /No host 'node1'/)
  })
})
