// The fleet's keys and values as a reader meets them: what the publisher
// writes reads back the same, and anything else (hostile, corrupt, from
// another program) is refused with a reason, never half-read; the view
// lists hosts and machines without merging duplicates.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Backoff } from '../../src/fleet/backoff.ts'
import { etcdConfigFrom, etcdErrorText } from '../../src/fleet/etcd.ts'
import { hostKey, leaseToHex, machineKey, parseFleetKey, prefixEnd, FLEET_PREFIX } from '../../src/fleet/layout.ts'
import { decodeHostRecord, decodeMachineRecord, encodeHostRecord, encodeMachineRecord, type MachineRecord } from '../../src/fleet/records.ts'
import { FleetView } from '../../src/fleet/view.ts'

const HOST_A = '0123456789abcdef0123456789abcdef'
const HOST_B = 'fedcba9876543210fedcba9876543210'
const A = { hostId: HOST_A, lease: '694d7b2ee4e5d1a5' }
const A2 = { hostId: HOST_A, lease: '694d7b2ee4e5d1a6' }
const B = { hostId: HOST_B, lease: '00000000000000ff' }

const machine = (name: string, over: Partial<MachineRecord> = {}): MachineRecord => ({
  name, id: '', class: 'container', service: 'svc', state: 'running', leader: 42, rootDirectory: '/srv/x', unit: `machine-${name}.scope`,
  timestamp: '1700000000000000', networkInterfaces: [3], vSockCid: undefined, sshAddress: undefined,
  osRelease: { ID: 'debian', VERSION_ID: '12', PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)' }, addresses: [{ family: 2, address: '10.0.0.2' }, { family: 10, address: 'fe80::1' }],
  ...over,
})

const b = (s: string): Buffer => Buffer.from(s)

describe('fleet key layout', () => {
  test('keys round-trip; anything else is not ours', () => {
    assert.deepEqual(parseFleetKey(hostKey(A)), { kind: 'host', instance: A })
    assert.deepEqual(parseFleetKey(machineKey(A, 'web')), { kind: 'machine', instance: A, name: 'web' })
    assert.equal(hostKey(A), `/machined-ts/fleet/v1/hosts/${HOST_A}/694d7b2ee4e5d1a5/host`)
    for (const key of [
      `${FLEET_PREFIX}hosts/${HOST_A}/694d7b2ee4e5d1a5/host/extra`, `${FLEET_PREFIX}hosts/${HOST_A.toUpperCase()}/694d7b2ee4e5d1a5/host`,
      `${FLEET_PREFIX}hosts/${'0'.repeat(32)}/694d7b2ee4e5d1a5/host`, `${FLEET_PREFIX}hosts/${HOST_A}/0000000000000000/host`,
      `${FLEET_PREFIX}hosts/${HOST_A}/694d7b2ee4e5d1a/host`, `${FLEET_PREFIX}hosts/${HOST_A}/694d7b2ee4e5d1a5/machines/-bad`,
      `${FLEET_PREFIX}hosts/${HOST_A}/694d7b2ee4e5d1a5/machines/.host`, `${FLEET_PREFIX}hosts/${HOST_A}/694d7b2ee4e5d1a5/machines/${'m'.repeat(65)}`,
      `${FLEET_PREFIX}hosts/${HOST_A}/694d7b2ee4e5d1a5/machines/`, `${FLEET_PREFIX}other`, '/elsewhere',
    ]) assert.equal(parseFleetKey(key), undefined, key)
  })

  test('lease IDs print as etcdctl prints them; a prefix ends where etcd expects', () => {
    assert.equal(leaseToHex('7587856388528132517'), '694d7b2ee4e5d1a5')
    assert.equal(leaseToHex('255'), '00000000000000ff')
    for (const bad of ['0', '-1', '9223372036854775808', 'x']) assert.equal(leaseToHex(bad), undefined, bad)
    assert.equal(prefixEnd('/a/').toString(), '/a0')
  })
})

describe('fleet records', () => {
  test('what the publisher writes reads back the same', () => {
    const m = machine('web', { id: 'ab'.repeat(16), vSockCid: 7, sshAddress: '10.0.0.2:22' })
    assert.deepEqual(decodeMachineRecord(encodeMachineRecord(m), 'web'), { ok: true, value: m })
    const vm = machine('vm1', { class: undefined, osRelease: {}, addresses: [], networkInterfaces: [] })
    assert.deepEqual(decodeMachineRecord(encodeMachineRecord(vm), 'vm1'), { ok: true, value: vm })
    const host = { hostname: 'alpha.example', bootId: 'cd'.repeat(16), software: 'machined-ts 0.1.0' }
    assert.deepEqual(decodeHostRecord(encodeHostRecord(host)), { ok: true, value: host })
  })

  test('hostile or corrupt values are refused whole, with a reason', () => {
    const refused = (value: string | Buffer, name = 'x'): string => {
      const r = decodeMachineRecord(typeof value === 'string' ? b(value) : value, name)
      assert.equal(r.ok, false, String(value).slice(0, 80))
      return (r as { reason: string }).reason
    }
    assert.equal(refused('{"name":"y"}'), 'name differs from the key')
    assert.equal(refused('not json'), 'value is not JSON')
    assert.equal(refused('[1]'), 'value is not a JSON object')
    assert.equal(refused('null'), 'value is not a JSON object')
    assert.equal(refused(Buffer.from([0x7b, 0xff, 0x7d])), 'value is not UTF-8')
    assert.equal(refused(`{"name":"x","service":"${'s'.repeat(70_000)}"}`), 'value of 70025 bytes (limit 65536)')
    assert.equal(refused('{"name":"x","service":"\\u001b]0;owned\\u0007"}'), 'service has control characters')
    assert.equal(refused('{"name":"x","unit":"\\u009b2J"}'), 'unit has control characters')
    // DEL and C1 controls as they are (JSON needs no escape for them), in a value without a backslash.
    assert.equal(refused('{"name":"x","service":"a\x7fb"}'), 'service has control characters')
    assert.equal(refused('{"name":"x","osRelease":{"ID":"a\u0085b"}}'), 'ID has control characters')
    assert.equal(refused('{"name":"x","addresses":[{"family":2,"address":"10.0.0.1\u009b"}]}'), 'address has control characters')
    assert.equal(refused('{"name":"x","class":"toaster"}'), 'class is unknown')
    assert.equal(refused('{"name":"x","state":"dead"}'), 'state is unknown')
    assert.equal(refused('{"name":"x","id":"xyz"}'), 'id is not 32 hex digits')
    assert.equal(refused('{"name":"x","leader":"1; rm -rf /"}'), 'leader is not an integer in 0…2147483647')
    assert.equal(refused('{"name":"x","leader":-1}'), 'leader is not an integer in 0…2147483647')
    assert.equal(refused('{"name":"x","timestamp":"1e9"}'), 'timestamp is not a number of µs')
    assert.equal(refused('{"name":"x","timestamp":"99999999999999999999"}'), 'timestamp is not a number of µs')
    assert.equal(refused('{"name":"x","networkInterfaces":[0]}'), 'networkInterfaces has an invalid index')
    assert.equal(refused(`{"name":"x","networkInterfaces":[${Array(300).fill(1).join(',')}]}`), 'networkInterfaces has more than 256 entries')
    assert.equal(refused('{"name":"x","addresses":[{"family":2,"address":"::1"}]}'), 'an address is not an IPv4 or IPv6 address of its family')
    assert.equal(refused('{"name":"x","addresses":[{"family":10,"address":"fe80::1\\u001b"}]}'), 'address has control characters')
    assert.equal(refused('{"name":"x","osRelease":{"__proto__":"x"}}'), 'osRelease has an invalid field name')
    assert.equal(refused('{"name":"x","osRelease":[]}'), 'osRelease is not an object')
    assert.equal(refused(`{"name":"x","rootDirectory":"${'/a'.repeat(3000)}"}`), 'rootDirectory is too long')
    const host = (v: string): string => (decodeHostRecord(b(v)) as { reason: string }).reason
    assert.equal(host('{"hostname":"bad host"}'), 'hostname is not a valid host name')
    assert.equal(host('{}'), 'hostname is not a valid host name')
    assert.equal(host('{"hostname":"ok","bootId":"nope"}'), 'bootId is not an ID')
    // Unknown fields are a newer publisher's: ignored.
    assert.equal(decodeMachineRecord(b('{"name":"x","future":{"a":1}}'), 'x').ok, true)
  })
})

describe('fleet view', () => {
  const put = (v: FleetView, key: string, value: Buffer | string): void => v.apply(b(key), typeof value === 'string' ? b(value) : value)

  test('hosts and their machines; a host shows only with its host record; deletes and expiries remove', () => {
    const v = new FleetView()
    put(v, machineKey(B, 'orphan'), encodeMachineRecord(machine('orphan')))
    assert.deepEqual(v.hosts(), [])
    put(v, hostKey(A), encodeHostRecord({ hostname: 'alpha', bootId: '', software: '' }))
    put(v, machineKey(A, 'web'), encodeMachineRecord(machine('web')))
    put(v, machineKey(A, 'db'), encodeMachineRecord(machine('db')))
    put(v, hostKey(B), encodeHostRecord({ hostname: 'beta', bootId: '', software: '' }))
    assert.deepEqual(v.machines().map((m) => `${m.host.record.hostname}/${m.machine.name}`), ['alpha/db', 'alpha/web', 'beta/orphan'])
    v.apply(b(machineKey(A, 'db')), undefined)
    v.apply(b(hostKey(B)), undefined)
    assert.deepEqual(v.machines().map((m) => `${m.host.record.hostname}/${m.machine.name}`), ['alpha/web'])
    assert.equal(v.refused.size, 0)
  })

  test('nothing is merged: duplicate machine IDs and duplicate host IDs are flagged', () => {
    const v = new FleetView()
    const id = '12'.repeat(16)
    put(v, hostKey(A), encodeHostRecord({ hostname: 'alpha', bootId: '', software: '' }))
    put(v, hostKey(A2), encodeHostRecord({ hostname: 'alpha-clone', bootId: '', software: '' }))
    put(v, hostKey(B), encodeHostRecord({ hostname: 'beta', bootId: '', software: '' }))
    put(v, machineKey(A, 'vm'), encodeMachineRecord(machine('vm', { id })))
    put(v, machineKey(B, 'vm-copy'), encodeMachineRecord(machine('vm-copy', { id })))
    put(v, machineKey(B, 'other'), encodeMachineRecord(machine('other', { id: '34'.repeat(16) })))
    assert.deepEqual(v.hosts().map((h) => [h.record.hostname, h.duplicateHostId]), [['alpha', true], ['alpha-clone', true], ['beta', false]])
    assert.deepEqual(v.machines().map((m) => [m.machine.name, m.duplicateId]), [['vm', true], ['other', false], ['vm-copy', true]])
  })

  test('hostile entries are counted with a reason and skipped; a later valid put replaces them', () => {
    const v = new FleetView()
    put(v, hostKey(A), encodeHostRecord({ hostname: 'alpha', bootId: '', software: '' }))
    put(v, machineKey(A, 'x'), '{"name":"x","service":"\\u001b[2J"}')
    put(v, `${FLEET_PREFIX}junk`, 'x')
    v.apply(Buffer.from([0xff, 0xff]), b('x'))
    v.apply(Buffer.alloc(100_000, 0x41), b('x'))
    assert.equal(v.refused.size, 4)
    assert.equal(v.refused.get(machineKey(A, 'x')), 'service has control characters')
    assert.deepEqual(v.machines(), [])
    put(v, machineKey(A, 'x'), encodeMachineRecord(machine('x')))
    v.apply(b(`${FLEET_PREFIX}junk`), undefined)
    assert.equal(v.refused.size, 2)
    assert.deepEqual(v.machines().map((m) => m.machine.name), ['x'])
  })
})

describe('fleet settings and retries', () => {
  test('endpoints are checked and normalised; every problem is one line', () => {
    assert.deepEqual(etcdConfigFrom({ endpoints: 'http://10.0.0.1:2379, http://etcd2,http://[::1]:23' }, {}).endpoints,
      ['http://10.0.0.1:2379', 'http://etcd2:2379', 'http://[::1]:23'])
    const fails = (s: Parameters<typeof etcdConfigFrom>[0], env: NodeJS.ProcessEnv = {}): string => {
      try { etcdConfigFrom(s, env); return 'no error' } catch (err) { return (err as Error).message }
    }
    assert.equal(fails({ endpoints: '' }), '--fleet-etcd names no etcd endpoint')
    assert.equal(fails({ endpoints: 'etcd:2379' }), "Invalid --fleet-etcd URL 'etcd:2379': the scheme must be http or https")
    assert.equal(fails({ endpoints: 'http://u:p@etcd:2379' }), "Invalid --fleet-etcd URL 'http://u:p@etcd:2379': put no user or password in the URL")
    assert.equal(fails({ endpoints: 'http://etcd:2379/v3' }), "Invalid --fleet-etcd URL 'http://etcd:2379/v3': an etcd endpoint has no path or query")
    assert.equal(fails({ endpoints: 'http://a:1,https://b:2' }), '--fleet-etcd: use https for every endpoint or for none')
    assert.equal(fails({ endpoints: 'http://a:1', ca: '/x' }), '--fleet-etcd: TLS settings need https:// endpoints')
    assert.equal(fails({ endpoints: 'https://a:1', key: '/x' }), '--fleet-etcd-cert and --fleet-etcd-key go together')
    assert.equal(fails({ endpoints: 'https://a:1', ca: '/nonexistent' }), 'Cannot read --fleet-etcd-ca=/nonexistent: ENOENT')
    assert.equal(fails({ endpoints: 'https://a:1', ca: '/etc/hostname' }), '--fleet-etcd-ca=/etc/hostname holds no valid PEM certificate')
    assert.equal(fails({ endpoints: 'http://a:1', user: 'root' }), '--fleet-etcd-user needs --fleet-etcd-password-file or $MACHINED_FLEET_ETCD_PASSWORD')
    assert.equal(fails({ endpoints: 'http://a:1', passwordFile: '/x' }), '--fleet-etcd-password-file needs --fleet-etcd-user')
    assert.deepEqual(etcdConfigFrom({ endpoints: 'http://a:1', user: 'root' }, { MACHINED_FLEET_ETCD_PASSWORD: 'pw' }).auth, { username: 'root', password: 'pw' })
    assert.equal(etcdErrorText(new Error('14 UNAVAILABLE: No connection established. Last error: x\n (2026). Resolution note: ')), '14 UNAVAILABLE: No connection established. Last error: x (2026)')
  })

  test('the backoff is jittered between its base and its cap, and grows', () => {
    const values = [0, 1, 0.5, 0.99, 0.01]
    let i = 0
    const bo = new Backoff({ baseMs: 100, capMs: 2000, random: () => values[i++ % values.length]! })
    const waits = Array.from({ length: 10 }, () => bo.next())
    for (const w of waits) assert.ok(w >= 100 && w <= 2000, String(w))
    assert.ok(Math.max(...waits) > 1000)
    const spread = new Set(Array.from({ length: 50 }, () => new Backoff({ baseMs: 100, capMs: 2000 }).next()))
    assert.ok(spread.size > 10, 'hosts starting together wait different times')
  })
})
