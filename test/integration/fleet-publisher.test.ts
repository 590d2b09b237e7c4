// The publisher against a real etcd, without a daemon: a burst of changes
// is a handful of transactions; a resync leaves etcd holding exactly the
// source's machines (ghosts deleted, changed values rewritten, all on our
// lease), in one transaction, also for a thousand machines; a restarted
// publisher takes its lease over; FleetWatch follows puts and deletes.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Etcd3 } from 'etcd3'
import type { FleetLog } from '../../src/fleet/backoff.ts'
import { instancePrefix, leaseFromHex, machineKey } from '../../src/fleet/layout.ts'
import { FleetPublisher, type FleetSource } from '../../src/fleet/publisher.ts'
import { FleetWatch, readFleet } from '../../src/fleet/reader.ts'
import type { MachineRecord } from '../../src/fleet/records.ts'
import { rangePrefix } from '../../src/fleet/store.ts'
import { EtcdServer } from '../helpers/etcd.ts'
import { eventually } from '../helpers/sandbox.ts'

const QUIET: FleetLog = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined }

/** A source whose machines a test sets by hand. */
class TestSource implements FleetSource {
  readonly machines = new Map<string, MachineRecord>()
  readonly #listeners = new Set<(name: string) => void>()
  names(): Iterable<string> { return this.machines.keys() }
  record(name: string): MachineRecord | undefined { return this.machines.get(name) }
  onChange(l: (name: string) => void): { dispose(): void } { this.#listeners.add(l); return { dispose: () => this.#listeners.delete(l) } }
  set(name: string, service = 'svc'): void {
    this.machines.set(name, {
      name, id: '', class: 'container', service, state: 'running', leader: 1, rootDirectory: '', unit: '', timestamp: '0',
      networkInterfaces: [], vSockCid: undefined, sshAddress: undefined, osRelease: {}, addresses: [],
    })
    for (const l of this.#listeners) l(name)
  }
  remove(name: string): void {
    this.machines.delete(name)
    for (const l of this.#listeners) l(name)
  }
}

describe('fleet publisher against etcd', () => {
  let etcd: EtcdServer
  let client: Etcd3
  let dir: string
  let n = 0
  const hostId = (): string => (++n).toString(16).padStart(32, 'a')

  before(async () => {
    etcd = await EtcdServer.start()
    client = etcd.client()
    dir = mkdtempSync(join(tmpdir(), 'machined-ts-fleet-'))
  })
  after(async () => {
    client?.close()
    await etcd?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  const publisher = (source: TestSource, id: string, leaseFile?: string): FleetPublisher => new FleetPublisher({
    etcd: client, hostId: id, source, log: QUIET, ttlSeconds: 5, leaseFile,
    host: () => ({ hostname: `host-${id.slice(-4)}`, bootId: '', software: 'test' }),
  })
  const live = (p: FleetPublisher): Promise<void> => new Promise((resolve) => { const d = p.onLive(() => { d.dispose(); resolve() }) })
  const names = async (id: string): Promise<string[]> =>
    (await readFleet(client)).view.machines().filter((m) => m.host.hostId === id).map((m) => m.machine.name)

  it('writes a burst of 500 changes in a handful of transactions', async () => {
    const source = new TestSource()
    const id = hostId()
    const p = publisher(source, id)
    await live(p)
    const before = p.stats.transactions
    const putsBefore = p.stats.puts
    for (let i = 0; i < 500; i++) source.set(`m${i}`)
    for (let i = 0; i < 100; i++) source.remove(`m${i}`)
    await eventually(async () => (await names(id)).length === 400, 5000, '400 machines')
    assert.ok(p.stats.transactions - before <= 5, `${p.stats.transactions - before} transactions`)
    assert.equal(p.stats.puts - putsBefore, 400, 'no put for a machine added and removed in the same batch')
    await p.close({ revoke: true })
    assert.deepEqual(await names(id), [])
  })

  it('a resync leaves exactly the source\'s machines, in one transaction, and a restarted publisher takes its lease over', async () => {
    const source = new TestSource()
    for (let i = 0; i < 1000; i++) source.set(`m${i}`)
    const id = hostId()
    const leaseFile = join(dir, `lease-${id}`)
    const p1 = publisher(source, id, leaseFile)
    await live(p1)
    assert.equal(p1.stats.transactions, 1)
    assert.equal((await names(id)).length, 1000)
    const instance = p1.instance!
    await p1.close()
    // While nobody publishes: a ghost appears, a value changes behind our back, and the source changes too.
    await client.kv.put({ key: Buffer.from(machineKey(instance, 'ghost')), value: Buffer.from('{"name":"ghost"}') })
    await client.kv.put({ key: Buffer.from(machineKey(instance, 'm1')), value: Buffer.from('{"name":"m1","service":"tampered"}') })
    source.remove('m0')
    source.set('m2', 'changed')
    source.set('new')
    const p2 = publisher(source, id, leaseFile)
    await live(p2)
    assert.equal(p2.instance!.lease, instance.lease, 'the lease of the previous run')
    assert.equal(p2.stats.transactions, 1)
    assert.equal(p2.stats.leasesGranted, 0)
    const { kvs } = await rangePrefix(client, instancePrefix(instance))
    assert.equal(kvs.length, 1001)
    assert.ok(kvs.every((kv) => kv.lease === leaseFromHex(instance.lease)))
    const view = (await readFleet(client)).view
    const mine = view.machines().filter((m) => m.host.hostId === id)
    assert.deepEqual(mine.map((m) => m.machine.name).sort(), [...source.machines.keys()].sort())
    assert.equal(mine.find((m) => m.machine.name === 'm1')!.machine.service, 'svc')
    assert.equal(mine.find((m) => m.machine.name === 'm2')!.machine.service, 'changed')
    await p2.close({ revoke: true })
  })

  it('FleetWatch follows puts and deletes on one prefix watch', async () => {
    const seen: string[][] = []
    const watch = new FleetWatch(client, { onChange: (v) => seen.push(v.machines().map((m) => m.machine.name)) })
    await watch.ready()
    const source = new TestSource()
    source.set('w1')
    const id = hostId()
    const p = publisher(source, id)
    await eventually(() => watch.view.machines().some((m) => m.machine.name === 'w1'), 3000, 'w1 seen')
    source.remove('w1')
    await eventually(() => !watch.view.machines().some((m) => m.machine.name === 'w1'), 3000, 'w1 gone')
    await p.close({ revoke: true })
    await watch.close()
    assert.ok(seen.length >= 3)
  })
})
