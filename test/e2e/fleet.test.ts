// The fleet (issue 15's "Done when"): a real etcd (Debian's etcd-server) on
// 127.0.0.1 and several hosts, each its own machined in its own mount and
// UTS namespace (own /run, bus, /etc/machine-id and hostname), publishing
// with --fleet-etcd. What the fleet shows is read two ways: with `mctl list
// --fleet` as a user would, and with a FleetWatch (the reader's one prefix
// watch) in this process, which times when etcd has each change.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Etcd3 } from 'etcd3'
import { FleetWatch, readFleet } from '../../src/fleet/reader.ts'
import type { FleetView } from '../../src/fleet/view.ts'
import { callManager, registerMachine } from '../helpers/busctl.ts'
import { EtcdServer } from '../helpers/etcd.ts'
import { eventually, REPO, Sandbox, sleep, type ExecResult } from '../helpers/sandbox.ts'

const MCTL = [process.execPath, join(REPO, 'bin/mctl.js')]
const TTL = 3

/** hostname → machine names, as the fleet shows them. */
type Fleet = Record<string, string[]>

function fleetOf(view: FleetView): Fleet {
  const out: Fleet = {}
  for (const m of view.machines()) (out[m.host.record.hostname] ??= []).push(m.machine.name)
  for (const list of Object.values(out)) list.sort()
  return out
}

function sorted(f: Fleet): Fleet {
  return Object.fromEntries(Object.entries(f).filter(([, l]) => l.length > 0).map(([h, l]): [string, string[]] => [h, [...l].sort()]).sort(([a], [b]) => (a < b ? -1 : 1)))
}

describe('the fleet on etcd', () => {
  let etcd: EtcdServer
  let client: Etcd3
  let watch: FleetWatch
  const run = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`
  const hostnames = { alpha: `alpha-${run}`, beta: `beta-${run}` }
  const ids = { alpha: randomBytes(16).toString('hex'), beta: randomBytes(16).toString('hex') }
  const hosts: Record<string, Sandbox> = {}
  /** What every host has registered: the fleet must show exactly this. */
  const expected: Fleet = {}
  let changed: () => void = () => undefined

  const mctl = (...args: string[]): Promise<ExecResult> => hosts.alpha!.exec([...MCTL, ...args])

  /** Resolves with the ms it took until the watched view satisfies `check`; fails after `limitMs`. */
  function until(check: (view: FleetView) => boolean, limitMs: number, what: string): Promise<number> {
    const start = Date.now()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { changed = () => undefined; reject(new Error(`${what}: not within ${limitMs} ms; the fleet shows ${JSON.stringify(fleetOf(watch.view))}`)) }, limitMs)
      const test = (): void => {
        if (!check(watch.view)) return
        clearTimeout(timer)
        changed = () => undefined
        resolve(Date.now() - start)
      }
      changed = test
      test()
    })
  }

  /** The same, reading etcd afresh every 50 ms: right after etcd restarts, the watch may still show what it had before. */
  async function untilRead(check: (view: FleetView) => boolean, limitMs: number, what: string): Promise<number> {
    const start = Date.now()
    let last: FleetView | undefined
    for (;;) {
      try {
        last = (await readFleet(client)).view
        if (check(last)) return Date.now() - start
      } catch { /* etcd is still starting */ }
      if (Date.now() - start > limitMs) throw new Error(`${what}: not within ${limitMs} ms; etcd holds ${JSON.stringify(last === undefined ? undefined : fleetOf(last))}`)
      await sleep(50)
    }
  }

  const complete = (view: FleetView): boolean => JSON.stringify(sorted(fleetOf(view))) === JSON.stringify(sorted(expected))

  async function register(host: 'alpha' | 'beta', base: string, id = ''): Promise<string> {
    const sb = hosts[host]!
    const name = sb.name(base)
    const leader = await sb.spawnLeader()
    const r = await registerMachine(sb, { name, leader: leader.pid!, id })
    assert.equal(r.ok, true, r.stderr)
    ;(expected[hostnames[host]] ??= []).push(name)
    return name
  }

  async function unregister(host: 'alpha' | 'beta', name: string): Promise<void> {
    const r = await callManager(hosts[host]!, 'UnregisterMachine', 's', name)
    assert.equal(r.ok, true, r.stderr)
    expected[hostnames[host]] = expected[hostnames[host]]!.filter((n) => n !== name)
  }

  before(async () => {
    etcd = await EtcdServer.start()
    for (const h of ['alpha', 'beta'] as const) {
      hosts[h] = await Sandbox.start({ host: { hostname: hostnames[h], machineId: ids[h] }, daemonArgs: [`--fleet-etcd=${etcd.url}`, `--fleet-ttl=${TTL}`] })
    }
    client = etcd.client()
    watch = new FleetWatch(client, { onChange: () => changed(), backoff: { capMs: 500 } })
    await watch.ready()
  })

  after(async () => {
    await watch?.close()
    client?.close()
    for (const sb of Object.values(hosts)) await sb.stop()
    await etcd?.stop()
  })

  it('lists every machine of every host with its host, each within 1 s of its registration', async () => {
    // Both hosts are in the fleet, with no machine yet.
    await until((v) => v.hosts().filter((h) => h.record.hostname.endsWith(run)).length === 2, 5000, 'both hosts')
    for (const [host, base, id] of [['alpha', 'web', ''], ['alpha', 'db', ''], ['beta', 'web', ''], ['beta', 'cache', 'c0ffee'.padEnd(32, '0')]] as const) {
      const name = await register(host, base, id)
      const ms = await until((v) => v.machines().some((m) => m.machine.name === name && m.host.record.hostname === hostnames[host]), 1000, `${name} on ${host}`)
      assert.ok(ms <= 1000)
    }
    assert.ok(complete(watch.view))

    // mctl, as a user runs it: machinectl's columns after HOST, host and hostId in JSON.
    const json = await mctl('list', `--fleet=${etcd.url}`, '--output=json')
    assert.equal(json.code, 0, json.stderr)
    const rows = (JSON.parse(json.stdout) as Record<string, unknown>[]).filter((r) => (r.host as string).endsWith(run))
    assert.deepEqual(sorted(rows.reduce<Fleet>((f, r) => { (f[r.host as string] ??= []).push(r.machine as string); return f }, {})), sorted(expected))
    for (const r of rows) {
      const h = r.host === hostnames.alpha ? 'alpha' : 'beta'
      assert.equal(r.hostId, ids[h])
      assert.deepEqual(Object.keys(r), ['host', 'hostId', 'machine', 'class', 'service', 'os', 'version', 'addresses', 'duplicateId', 'duplicateHostId'])
      assert.equal(r.duplicateId, false)
      // The same fields as the host's own `mctl list` gives for that machine (os-release is looked up after registering).
      const local = JSON.parse((await hosts[h]!.exec([...MCTL, 'list', '--output=json'])).stdout) as Record<string, unknown>[]
      const own = local.find((l) => l.machine === r.machine)
      assert.deepEqual({ ...r, host: undefined, hostId: undefined, duplicateId: undefined, duplicateHostId: undefined }, { ...own, host: undefined, hostId: undefined, duplicateId: undefined, duplicateHostId: undefined })
    }
    const text = await mctl('list', `--fleet=${etcd.url}`, `--host=${hostnames.beta}`)
    assert.equal(text.code, 0, text.stderr)
    const lines = text.stdout.split('\n')
    assert.match(lines[0]!, /^HOST +MACHINE +CLASS +SERVICE +OS +VERSION +ADDRESSES$/)
    assert.deepEqual(lines.slice(1, 3).map((l) => l.split(/ +/).slice(0, 3)), expected[hostnames.beta]!.map((n) => [hostnames.beta, n, 'container']).sort((a, b) => (a[1]! < b[1]! ? -1 : 1)))
    assert.equal(lines.at(-2), '2 machines listed on 1 host.')

    // status NAME --host=HOST picks one; without --host both machines of that name show.
    const web = expected[hostnames.alpha]!.find((n) => n.startsWith('web'))!
    const status = await mctl('status', web, `--fleet=${etcd.url}`, `--host=${ids.alpha}`)
    assert.equal(status.code, 0, status.stderr)
    assert.match(status.stdout, new RegExp(`^${web}\\n\\t    Host: ${hostnames.alpha} \\(${ids.alpha}\\)\\n`))
    assert.match(status.stdout, /\t Service: test-svc; class container\n/)
    assert.match(status.stdout, new RegExp(`\\t    Unit: machine-${web.replace(/-/g, '\\\\x2d')}\\.scope\\n`))
    const missing = await mctl('status', web, `--fleet=${etcd.url}`, `--host=${hostnames.beta}`)
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /^Could not get path to machine: No machine '.*' known on host beta-.* in the fleet\n$/)
    // $MACHINED_FLEET_ETCD does what --fleet= does.
    const viaEnv = await hosts.alpha!.exec(['env', `MACHINED_FLEET_ETCD=${etcd.url}`, ...MCTL, 'list', '--no-legend'])
    assert.equal(viaEnv.stdout.split('\n').filter((l) => l.startsWith(hostnames.alpha) || l.startsWith(hostnames.beta)).length, 4)
  })

  it('an unregistered machine leaves the fleet within 1 s', async () => {
    const name = expected[hostnames.alpha]!.find((n) => n.startsWith('db'))!
    await unregister('alpha', name)
    const ms = await until((v) => !v.machines().some((m) => m.machine.name === name), 1000, `${name} gone`)
    assert.ok(ms <= 1000)
    assert.ok(complete(watch.view))
  })

  it('kill -9 of a host\'s daemon: its machines leave within TTL + 1 s; a restart brings them back, taking its keys over', async () => {
    const before = watch.view.hosts().find((h) => h.hostId === ids.alpha)!
    await hosts.alpha!.stopDaemon('SIGKILL')
    const ms = await until((v) => !v.hosts().some((h) => h.hostId === ids.alpha), (TTL + 1) * 1000, 'alpha gone')
    assert.ok(ms <= (TTL + 1) * 1000)
    assert.deepEqual(fleetOf(watch.view)[hostnames.beta], [...expected[hostnames.beta]!].sort(), 'beta untouched')
    await hosts.alpha!.startDaemon()
    await until(complete, 5000, 'alpha back')
    assert.notEqual(watch.view.hosts().find((h) => h.hostId === ids.alpha)!.lease, before.lease, 'a new lease once the old one expired')

    // Killed and restarted at once: the new daemon takes the old lease over, so no second copy of alpha ever shows.
    const lease = watch.view.hosts().find((h) => h.hostId === ids.alpha)!.lease
    let copies = 1
    changed = () => { copies = Math.max(copies, watch.view.hosts().filter((h) => h.hostId === ids.alpha).length) }
    await hosts.alpha!.stopDaemon('SIGKILL')
    await hosts.alpha!.startDaemon()
    await sleep(1500)
    changed = () => undefined
    assert.equal(copies, 1)
    assert.ok(complete(watch.view))
    assert.equal(watch.view.hosts().find((h) => h.hostId === ids.alpha)!.lease, lease)
    assert.match(hosts.alpha!.daemonLog, /Took over the fleet lease of the previous run/)
  })

  it('registrations while etcd is down succeed locally at normal speed, and appear once etcd is back (an etcd restart)', async () => {
    const timed = async (f: () => Promise<unknown>): Promise<number> => { const t = Date.now(); await f(); return Date.now() - t }
    const up = await timed(() => register('alpha', 'up'))
    await etcd.kill()
    const down: number[] = []
    const names: string[] = []
    for (const base of ['down1', 'down2', 'down3']) down.push(await timed(async () => { names.push(await register('beta', base)) }))
    down.push(await timed(() => unregister('alpha', expected[hostnames.alpha]!.find((n) => n.startsWith('up'))!)))
    // The daemon answers as fast as with etcd up (a call that waited for etcd would take its 1.5-s deadline at least).
    assert.ok(Math.max(...down) < Math.max(up, 200) + 500, `registrations took ${down.join(', ')} ms with etcd down, ${up} ms with it up`)
    const local = await hosts.beta!.exec([...MCTL, 'list', '--no-legend'])
    for (const n of names) assert.match(local.stdout, new RegExp(`^${n} `, 'm'))
    await sleep(1000)
    await etcd.resume()
    const ms = await untilRead(complete, 5000, 'complete after the etcd restart')
    assert.ok(ms <= 5000)
    assert.match(hosts.beta!.daemonLog, /Publishing to etcd failed; retrying with backoff/)
    await eventually(() => /Publishing to etcd works again/.test(hosts.beta!.daemonLog), 2000, 'the end of the outage in the log')
    await until(complete, 3000, 'the watch, complete again')
  })

  it('after etcd lost all its data, the fleet is complete again within a few seconds', async () => {
    await etcd.kill()
    etcd.wipe()
    await etcd.resume()
    const ms = await untilRead(complete, 5000, 'complete after etcd lost its data')
    assert.ok(ms <= 5000)
    for (const h of ['alpha', 'beta'] as const) await eventually(() => /The fleet lease is gone/.test(hosts[h]!.daemonLog), 2000, `${h}'s new lease`)
    await until(complete, 3000, 'the watch, complete again')
  })

  it('a machine ID on two hosts, and a host ID on two hosts, are flagged, not merged', async () => {
    const id = randomBytes(16).toString('hex')
    const a = await register('alpha', 'clone', id)
    const b = await register('beta', 'clone', id)
    await until(complete, 1000, 'both clones')
    const json = await mctl('list', `--fleet=${etcd.url}`, '-o', 'json')
    const rows = JSON.parse(json.stdout) as { machine: string; duplicateId: boolean }[]
    assert.deepEqual(rows.filter((r) => r.duplicateId).map((r) => r.machine).sort(), [a, b].sort())
    const ours = rows.filter((r) => (r as unknown as { host: string }).host.endsWith(run))
    assert.equal(ours.filter((r) => !r.duplicateId).length, ours.length - 2)
    assert.match(json.stderr, new RegExp(`^Warning: machine ID ${id} is used on more than one host: `, 'm'))

    // A third host booted from a copy of alpha's disk: same /etc/machine-id, another name.
    const gamma = `gamma-${run}`
    hosts.gamma = await Sandbox.start({ host: { hostname: gamma, machineId: ids.alpha }, daemonArgs: [`--fleet-etcd=${etcd.url}`, `--fleet-ttl=${TTL}`] })
    await until((v) => v.hosts().filter((h) => h.hostId === ids.alpha).length === 2, 3000, 'gamma listed beside alpha')
    const text = await mctl('list', `--fleet=${etcd.url}`)
    assert.match(text.stderr, new RegExp(`^Warning: host ID ${ids.alpha} is published by more than one host \\(${hostnames.alpha}, ${gamma}\\): a cloned /etc/machine-id\\?$`, 'm'))
    assert.ok(watch.view.hosts().filter((h) => h.hostId === ids.alpha).every((h) => h.duplicateHostId))
    assert.ok(complete(watch.view), 'alpha keeps its machines')
    await hosts.gamma.stop()
    delete hosts.gamma
  })

  it('hostile or corrupt entries under the prefix are skipped with one warning; mctl and the daemons go on', async () => {
    const prefix = '/machined-ts/fleet/v1/hosts/'
    const instance = `${prefix}${'ab'.repeat(16)}/${'1'.repeat(16)}/`
    const junk: [string, string | Buffer][] = [
      [`${instance}host`, JSON.stringify({ hostname: 'evil\u001b]0;owned\u0007' })],
      [`${instance}machines/x`, '{"name":"x","class":"container","osRelease":{"ID":"\u001b[2J"}}'],
      [`${prefix}${'cd'.repeat(16)}/${'2'.repeat(16)}/host`, '{"hostname":"ok-host"}'],
      [`${prefix}${'cd'.repeat(16)}/${'2'.repeat(16)}/machines/y`, '{"name":"z"}'],
      [`${prefix}${'cd'.repeat(16)}/${'2'.repeat(16)}/machines/q`, '{"name":"q","addresses":[{"family":2,"address":"::1"}]}'],
      [`${prefix}${'cd'.repeat(16)}/${'2'.repeat(16)}/machines/w`, '{"name":"w","leader":"1; rm -rf /","networkInterfaces":'.concat('['.repeat(100_000))],
      [`${prefix}${'cd'.repeat(16)}/${'2'.repeat(16)}/machines/big`, `{"name":"big","service":"${'s'.repeat(70_000)}"}`],
      [`${prefix}not-an-id/x/host`, '{}'],
      [`${prefix}${'ef'.repeat(16)}/${'3'.repeat(16)}/host`, Buffer.from([0xff, 0xfe, 0x00])],
      [`${prefix}${'cd'.repeat(16)}/${'2'.repeat(16)}/machines/${'m'.repeat(300)}`, '{}'],
    ]
    for (const [key, value] of junk) await client.kv.put({ key: Buffer.from(key), value: Buffer.from(value) })
    try {
      const r = await mctl('list', `--fleet=${etcd.url}`, '-o', 'json')
      assert.equal(r.code, 0, r.stderr)
      const rows = JSON.parse(r.stdout) as { host: string; machine: string }[]
      // The valid host record shows (with no machine of its own: none of its machine records is valid); nothing else does.
      assert.ok(!rows.some((row) => ['x', 'y', 'z', 'q', 'w', 'big'].includes(row.machine)))
      assert.ok(!r.stdout.includes('\u001b'))
      assert.match(r.stderr, /^Ignored 9 invalid entries under \/machined-ts\/fleet\/v1\/ in etcd \(/m)
      assert.ok(complete(watch.view))
      // The daemons serve on, and publish on.
      const name = await register('alpha', 'after-junk')
      await until((v) => v.machines().some((m) => m.machine.name === name), 1000, 'a machine after the junk')
    } finally {
      for (const [key] of junk) await client.kv.deleteRange({ key: Buffer.from(key) })
    }
  })
})
