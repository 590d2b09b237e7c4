// io.systemd.Machine bound to a Manager over fake ports, served on a real
// Unix socket. Protects what newest systemd's machine-varlink.c answers:
// Register's field checks in the order the client sent them, lookups by
// name and/or PID, List's streaming rules (ExpectedMore, continues on all
// but the last reply) and metadata errors, Kill's checks, MapFrom/MapTo,
// and the exact error names.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Manager } from '../../src/core/manager.ts'
import type { ProcessRef } from '../../src/core/ports.ts'
import { createFakePorts, type FakePorts } from '../fakes/ports.ts'
import { FakeLog } from '../fakes/log.ts'
import { machineBinding } from '../../src/transports/varlink/machine.ts'
import { VarlinkServer, type PeerCredentials } from '../../src/transports/varlink/server.ts'
import { RawClient, type Frame } from '../helpers/varlink-raw.ts'

const BOOT_ID = '0e82f03cc4d04dcbaeb79eaf6e5b8d01'
const LEADER = 4605
const M = 'io.systemd.Machine'
const ROOT: PeerCredentials = { uid: 0, gid: 0, pid: 999 }

const identity = {
  bootId: BOOT_ID,
  pidfdIdOfPid: (pid: number): number => 10_000 + pid,
  pidfdIdOf: (ref: ProcessRef): number => 10_000 + ref.pid,
}

const bad = (parameter: string): Frame => ({ error: 'org.varlink.service.InvalidParameter', parameters: { parameter } })
const err = (name: string): Frame => ({ error: `io.systemd.Machine.${name}`, parameters: {} })
const OK: Frame = { parameters: {} }

interface Reply {
  readonly parameters?: Record<string, unknown>
  readonly error?: string
  readonly continues?: boolean
}

describe('io.systemd.Machine over Varlink', () => {
  let dir: string
  let ports: FakePorts
  let manager: Manager
  let server: VarlinkServer
  let path: string
  let peer: PeerCredentials = ROOT
  let c: RawClient

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'varlink-machine-'))
    ports = createFakePorts()
    ports.processes.spawn(ROOT.pid)
    ports.processes.spawn(LEADER)
    manager = new Manager(ports)
    server = new VarlinkServer({ info: { vendor: 'v', product: 'p', version: '0', url: '' }, log: new FakeLog(), peerCredentials: () => peer })
    server.addInterface(machineBinding({ manager, identity }))
    path = join(dir, 'io.systemd.Machine')
    await server.listen(path)
    c = await RawClient.connect(path)
  })
  after(async () => {
    c?.destroy()
    await server?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const call = async (method: string, parameters: Frame = {}, flags: { more?: boolean } = {}): Promise<Reply> => await c.call(`${M}.${method}`, parameters, flags)

  it('registers a machine and lists it by name with systemd\'s fields', async () => {
    assert.deepEqual(await call('Register', { name: 'golden', class: 'container', leader: LEADER }), OK)
    assert.deepEqual(await call('List', { name: 'golden' }), {
      parameters: {
        name: 'golden', class: 'container', unit: 'machine-golden.scope',
        leader: { pid: LEADER, pidfdId: 10_000 + LEADER, bootId: BOOT_ID },
        timestamp: { realtime: Number(ports.clock.realtime), monotonic: Number(ports.clock.monotonic) },
      },
    })
    // Seen by the core (and so by D-Bus) at once.
    assert.equal(manager.find('golden')?.leader.pid, LEADER)
  })

  it('registers with every field, leaderProcessId and networkInterfaces included', async () => {
    ports.processes.spawn(4700)
    assert.deepEqual(await call('Register', {
      name: 'full', id: '112233445566778899aabbccddeeff01', service: 'vmspawn', class: 'vm',
      leaderProcessId: { pid: 4700, pidfdId: 14_700, bootId: BOOT_ID }, rootDirectory: '/srv/full',
      networkInterfaces: [3, 7], vSockCid: 1234, sshAddress: 'vsock/1234', sshPrivateKeyPath: '/run/key', allocateUnit: true,
      allowInteractiveAuthentication: false,
    }), OK)
    const m = manager.get('full')
    assert.deepEqual([...m.netifs], [3, 7])
    assert.deepEqual((await call('List', { name: 'full' })).parameters, {
      name: 'full', id: '112233445566778899aabbccddeeff01', class: 'vm', service: 'vmspawn', rootDirectory: '/srv/full',
      unit: 'machine-full.scope', leader: { pid: 4700, pidfdId: 14_700, bootId: BOOT_ID },
      timestamp: { realtime: Number(ports.clock.realtime), monotonic: Number(ports.clock.monotonic) },
      vSockCid: 1234, sshAddress: 'vsock/1234', sshPrivateKeyPath: '/run/key',
    })
  })

  it('takes the caller as leader when none is given, and a dashed UUID as id', async () => {
    assert.deepEqual(await call('Register', { name: 'self', class: 'container', id: '11223344-5566-7788-99aa-bbccddeeff02' }), OK)
    assert.equal(manager.get('self').leader.pid, ROOT.pid)
    assert.equal(manager.get('self').idString, '112233445566778899aabbccddeeff02')
    assert.deepEqual((await call('List', { pid: { pid: 0 } })).parameters?.name, 'self')
    assert.deepEqual(await call('Unregister', { name: 'self' }), OK)
  })

  it('refuses bad Register parameters, naming the first bad field in the order sent', async () => {
    ports.processes.spawn(4800)
    const cases: [Frame, Frame][] = [
      [{ class: 'container' }, bad('name')],
      [{ name: 'bad_name', class: 'container', leader: 4800 }, bad('name')],
      [{ name: '.host', class: 'container', leader: 4800 }, bad('name')],
      [{ name: 'x1', class: 'container', id: 'xyz', leader: 4800 }, bad('id')],
      [{ name: 'x1', class: 'container', id: 5, leader: 4800 }, bad('id')],
      [{ name: 'x1', class: 'bogus', leader: 4800 }, bad('class')],
      [{ name: 'x1', class: 'host', leader: 4800 }, bad('class')],
      [{ name: 'x1', leader: 4800 }, bad('class')],
      [{ name: 'x1', class: 'container', leader: 0 }, bad('leader')],
      [{ name: 'x1', class: 'container', leader: 1 }, bad('leader')],
      [{ name: 'x1', class: 'container', leader: -5 }, bad('leader')],
      [{ name: 'x1', class: 'container', leader: 'x' }, bad('leader')],
      [{ name: 'x1', class: 'container', leader: 4999 }, bad('leader')],
      [{ name: 'x1', class: 'container', leader: 4800, leaderProcessId: { pid: LEADER } }, bad('leaderProcessId')],
      [{ name: 'x1', class: 'container', leaderProcessId: { pid: LEADER }, leader: 4800 }, bad('leader')],
      [{ name: 'x1', class: 'container', leaderProcessId: { pid: 4800, bootId: 'ffffffffffffffffffffffffffffffff' } }, bad('leaderProcessId')],
      [{ name: 'x1', class: 'container', leaderProcessId: { pid: 4800, pidfdId: 1 } }, bad('leaderProcessId')],
      [{ name: 'x1', class: 'container', leaderProcessId: { pid: 4800, other: 1 } }, bad('leaderProcessId')],
      [{ name: 'x1', class: 'container', leaderProcessId: 4800 }, bad('leaderProcessId')],
      [{ name: 'x1', class: 'container', leaderProcessId: { pid: 4999 } }, bad('leaderProcessId')],
      [{ name: 'x1', class: 'container', leader: 4800, rootDirectory: 'relative' }, bad('rootDirectory')],
      [{ name: 'x1', class: 'container', leader: 4800, rootDirectory: '' }, bad('rootDirectory')],
      [{ name: 'x1', class: 'container', leader: 4800, ifIndices: [1, 0] }, bad('ifIndices')],
      [{ name: 'x1', class: 'container', leader: 4800, ifIndices: ['1'] }, bad('ifIndices')],
      [{ name: 'x1', class: 'container', leader: 4800, networkInterfaces: [-1] }, bad('ifIndices')],
      [{ name: 'x1', class: 'container', leader: 4800, vSockCid: 2 }, bad('vSockCid')],
      [{ name: 'x1', class: 'container', leader: 4800, sshAddress: 'a\nb' }, bad('sshAddress')],
      [{ name: 'x1', class: 'container', leader: 4800, sshPrivateKeyPath: 'key' }, bad('sshPrivateKeyPath')],
      [{ name: 'x1', class: 'container', leader: 4800, allocateUnit: 'yes' }, bad('allocateUnit')],
      [{ name: 'x1', class: 'container', leader: 4800, supervisor: 1 }, bad('supervisor')],
      [{ name: 'golden', class: 'container', leader: 4800 }, err('MachineExists')],
    ]
    for (const [parameters, expected] of cases) assert.deepEqual(await call('Register', parameters), expected, JSON.stringify(parameters))
    assert.equal(manager.find('x1'), undefined)
  })

  it('answers PermissionDenied to an unprivileged caller', async () => {
    peer = { uid: 1000, gid: 1000, pid: 5000 }
    const d = await RawClient.connect(path)
    assert.deepEqual(await d.call(`${M}.Register`, { name: 'nope', class: 'container', leader: LEADER }), { error: 'org.varlink.service.PermissionDenied', parameters: {} })
    assert.deepEqual(await d.call(`${M}.Unregister`, { name: 'golden' }), { error: 'org.varlink.service.PermissionDenied', parameters: {} })
    assert.equal(((await d.call(`${M}.List`, { name: 'golden' })) as Reply).parameters?.name, 'golden')
    d.destroy()
    peer = ROOT
  })

  it('lists everything only with more, continues on all replies but the last', async () => {
    assert.deepEqual(await call('List'), { error: 'org.varlink.service.ExpectedMore', parameters: {} })
    c.send({ method: `${M}.List`, parameters: {}, more: true })
    const replies: Frame[] = []
    for (;;) {
      const r = (await c.next())!
      replies.push(r)
      if (r.continues !== true) break
    }
    assert.deepEqual(replies.map((r) => (r.parameters as { name: string }).name), ['.host', 'golden', 'full'])
    assert.deepEqual(replies.map((r) => r.continues), [true, true, undefined])
    assert.deepEqual(replies[0]!.parameters, {
      name: '.host', id: '9d8b3c2e7a114f558601e2c43b0a5d77', class: 'host', rootDirectory: '/', unit: '-.slice',
      leader: { pid: 1, pidfdId: 10_001, bootId: BOOT_ID }, timestamp: { realtime: 1_795_615_000_000_000, monotonic: 0 },
    })
    // A filter answers once, more or not.
    assert.deepEqual(await call('List', { name: 'golden' }, { more: true }), await call('List', { name: 'golden' }))
  })

  it('looks machines up by name, by PID or both, as lookup_machine_by_name_or_pidref() does', async () => {
    assert.equal((await call('List', { pid: { pid: LEADER } })).parameters?.name, 'golden')
    assert.equal((await call('List', { pid: { pid: LEADER, pidfdId: 1 } })).parameters?.name, 'golden')
    assert.equal((await call('List', { name: 'golden', pid: { pid: String(LEADER) } })).parameters?.name, 'golden')
    assert.deepEqual(await call('List', { name: 'full', pid: { pid: LEADER } }), err('NoSuchMachine'))
    assert.deepEqual(await call('List', { name: 'nope' }), err('NoSuchMachine'))
    assert.deepEqual(await call('List', { pid: { pid: 77777 } }), err('NoSuchMachine'))
    assert.deepEqual(await call('List', { pid: { pid: LEADER, bootId: 'ffffffffffffffffffffffffffffffff' } }), err('NoSuchMachine'))
    assert.deepEqual(await call('List', { name: 'bad_name' }), bad('name'))
    assert.deepEqual(await call('List', { pid: { pid: -1 } }), bad('pid'))
    assert.deepEqual(await call('List', { acquireMetadata: 'maybe' }), bad('acquireMetadata'))
    assert.equal((await call('List', { name: '.host' })).parameters?.class, 'host')
    assert.deepEqual(await call('Terminate', {}), err('NoSuchMachine'))
  })

  // Clients of every systemd version: what json_dispatch_pidref() and sd-json's dispatchers take besides the IDL's types.
  describe('takes what systemd\'s dispatchers take, and refuses what they refuse', () => {
    it('lookup pid as a plain integer (systemd 256/257 clients, TEST-13\'s List {"pid": N}) answers like a ProcessId and like the name', async () => {
      const byName = await call('List', { name: 'golden' })
      assert.deepEqual(await call('List', { pid: LEADER }), byName)
      assert.deepEqual(await call('List', { pid: { pid: LEADER } }), byName)
      assert.deepEqual(await call('List', { name: 'golden', pid: LEADER }), byName)
      assert.deepEqual(await call('Kill', { pid: LEADER, signal: 10, whom: 'leader' }), OK)
      assert.deepEqual(ports.processes.signals.at(-1), { pid: LEADER, signal: 10 })
      assert.deepEqual(await call('List', { name: 'full', pid: LEADER }), err('NoSuchMachine'))
      assert.deepEqual(await call('List', { pid: -LEADER }), bad('pid'))
      assert.deepEqual(await call('List', { pid: 2 ** 31 }), bad('pid'))
      assert.deepEqual(await call('List', { pid: 1.5 }), bad('pid'))
      assert.deepEqual(await call('List', { pid: true }), bad('pid'))
      assert.deepEqual(await call('List', { pid: [LEADER] }), bad('pid'))
    })

    it('lookup pid as a string, read as safe_atou64() reads it ("4605", " 4605", "+4605", "0x11fd", "010775")', async () => {
      for (const pid of [String(LEADER), ` ${LEADER}`, `+${LEADER}`, `0x${LEADER.toString(16)}`, `0${LEADER.toString(8)}`, `0o${LEADER.toString(8)}`, `0b${LEADER.toString(2)}`]) {
        assert.equal((await call('List', { pid })).parameters?.name, 'golden', pid)
      }
      for (const pid of ['', 'x', `${LEADER}x`, `-${LEADER}`, '0x', '99999999999999999999']) assert.deepEqual(await call('List', { pid }), bad('pid'), pid)
    })

    it('lookup pid 0, "0" or {"pid": 0} means the caller\'s machine (SD_JSON_RELAX); not with a bootId', async () => {
      ports.processes.spawn(ROOT.pid)
      assert.deepEqual(await call('Register', { name: 'caller', class: 'container' }), OK)
      for (const pid of [0, '0', { pid: 0 }, { pid: '0', pidfdId: 0 }]) assert.equal((await call('List', { pid })).parameters?.name, 'caller', JSON.stringify(pid))
      assert.deepEqual(await call('List', { pid: { pid: 0, bootId: BOOT_ID } }), bad('pid'))
      assert.deepEqual(await call('Unregister', { name: 'caller' }), OK)
    })

    it('a ProcessId\'s pid and pidfdId may be strings (sd_json_dispatch_uint64()); its bootId must be one; no other field', async () => {
      assert.equal((await call('List', { pid: { pid: String(LEADER), pidfdId: String(10_000 + LEADER) } })).parameters?.name, 'golden')
      // Not strict: a lookup's pidfdId that does not match is only noted, as newest systemd does.
      assert.equal((await call('List', { pid: { pid: LEADER, pidfdId: null } })).parameters?.name, 'golden')
      assert.deepEqual(await call('List', { pid: { pid: LEADER, pidfdId: -1 } }), bad('pid'))
      assert.deepEqual(await call('List', { pid: { pid: LEADER, bootId: 5 } }), bad('pid'))
      assert.deepEqual(await call('List', { pid: { pid: LEADER, comm: 'sleep' } }), bad('pid'))
      assert.deepEqual(await call('List', { pid: {} }), bad('pid'))
    })

    it('Register\'s leader and leaderProcessId (SD_JSON_STRICT) take strings too; a null pidfdId names no process', async () => {
      ports.processes.spawn(4900)
      ports.processes.spawn(4901)
      assert.deepEqual(await call('Register', { name: 'strleader', class: 'container', leader: ' 4900' }), OK)
      assert.equal(manager.get('strleader').leader.pid, 4900)
      assert.deepEqual(await call('Register', { name: 'strpidref', class: 'container', leaderProcessId: { pid: '4901', pidfdId: '14901', bootId: BOOT_ID } }), OK)
      assert.equal(manager.get('strpidref').leader.pid, 4901)
      assert.deepEqual(await call('Register', { name: 'x2', class: 'container', leaderProcessId: { pid: 4901, pidfdId: null } }), bad('leaderProcessId'))
      assert.deepEqual(await call('Register', { name: 'x2', class: 'container', leaderProcessId: { pid: 4901, pidfdId: '14902' } }), bad('leaderProcessId'))
      // The IDL says int for leader: a ProcessId there never reaches the dispatcher.
      assert.deepEqual(await call('Register', { name: 'x2', class: 'container', leader: { pid: 4901 } }), bad('leader'))
      assert.deepEqual(await call('Register', { name: 'x2', class: 'container', leader: '-4901' }), bad('leader'))
      for (const name of ['strleader', 'strpidref']) assert.deepEqual(await call('Unregister', { name }), OK)
    })

    it('vSockCid may be a string (sd_json_dispatch_uint()), within 32 bits', async () => {
      ports.processes.spawn(4902)
      assert.deepEqual(await call('Register', { name: 'cidstr', class: 'vm', leader: 4902, vSockCid: '0x1000' }), OK)
      assert.equal((await call('List', { name: 'cidstr' })).parameters?.vSockCid, 4096)
      assert.deepEqual(await call('Unregister', { name: 'cidstr' }), OK)
      for (const vSockCid of ['4294967296', -5, '-5', 'x']) {
        assert.deepEqual(await call('Register', { name: 'x3', class: 'vm', leader: 4902, vSockCid }), bad('vSockCid'), String(vSockCid))
      }
    })

    it('Kill\'s signal may be a name, as signal_from_string() reads it (sd_json_dispatch_signal())', async () => {
      for (const [signal, number] of [['SIGUSR2', 12], ['USR1', 10], ['RTMIN+4', 38], ['SIGRTMAX-1', 63], ['0x0c', 12], [' 10', 10]] as const) {
        assert.deepEqual(await call('Kill', { name: 'golden', signal, whom: 'leader' }), OK, signal)
        assert.deepEqual(ports.processes.signals.at(-1), { pid: LEADER, signal: number }, signal)
      }
      for (const signal of ['SIGFOO', 'sigterm', '0', '65', 'RTMIN+31', '', 15.5]) assert.deepEqual(await call('Kill', { name: 'golden', signal }), bad('signal'), String(signal))
    })

    it('MapFrom\'s and MapTo\'s uid and gid must be JSON integers: their dispatch tables name SD_JSON_VARIANT_UNSIGNED', async () => {
      ports.inspector.maps = { uidMap: '0 100000 65536\n', gidMap: '0 200000 65536\n' }
      assert.deepEqual(await call('MapFrom', { name: 'golden', uid: '5' }), bad('uid'))
      assert.deepEqual(await call('MapFrom', { name: 'golden', gid: '6' }), bad('gid'))
      assert.deepEqual(await call('MapTo', { uid: '100005' }), bad('uid'))
      assert.deepEqual(await call('MapFrom', { name: 'golden', uid: -5 }), bad('uid'))
      assert.deepEqual(await call('MapFrom', { name: 'golden', uid: 5 }), { parameters: { uid: 100005 } })
    })
  })

  it('adds metadata on request; "graceful" leaves out what cannot be read', async () => {
    ports.inspector.addressList = [{ family: 2, address: Uint8Array.from([10, 0, 0, 2]) }]
    ports.inspector.osReleaseFields = new Map([['ID', 'debian'], ['VERSION_ID', '12']])
    ports.inspector.maps = { uidMap: '0 100000 65536\n', gidMap: '0 100000 65536\n' }
    const { parameters } = await call('List', { name: 'golden', acquireMetadata: 'yes' })
    assert.deepEqual([parameters?.addresses, parameters?.OSRelease, parameters?.UIDShift], [[{ family: 2, address: [10, 0, 0, 2] }], ['ID=debian', 'VERSION_ID=12'], 100000])
    // A VM has none of it: NotAvailable, or nothing in graceful mode.
    assert.deepEqual(await call('List', { name: 'full', acquireMetadata: 'yes' }), err('NotAvailable'))
    const graceful = await call('List', { name: 'full', acquireMetadata: 'graceful' })
    assert.equal(graceful.parameters?.name, 'full')
    assert.equal('addresses' in graceful.parameters, false)
    ports.inspector.addressList = undefined
    assert.deepEqual(await call('List', { name: 'golden', acquireMetadata: 'yes' }), err('NoPrivateNetworking'))
    ports.inspector.addressList = []
    ports.inspector.osReleaseFields = undefined
    assert.deepEqual(await call('List', { name: 'golden', acquireMetadata: 'yes' }), err('NoOSReleaseInformation'))
    ports.inspector.osReleaseFields = new Map()
    ports.inspector.maps = { uidMap: '0 100000 10\n', gidMap: '0 100000 10\n' }
    assert.deepEqual(await call('List', { name: 'golden', acquireMetadata: 'yes' }), err('NoUIDShift'))
    assert.deepEqual(Object.keys((await call('List', { name: 'golden', acquireMetadata: 'graceful' })).parameters!).includes('UIDShift'), false)
  })

  it('with metadata, reads every machine\'s at once, replies in the list\'s order, and names the first error in systemd\'s order', { timeout: 5000 }, async () => {
    ports.inspector.addressList = []
    ports.inspector.maps = { uidMap: '0 0 4294967295\n', gidMap: '0 0 4294967295\n' }
    const osRelease = ports.inspector.osRelease.bind(ports.inspector)
    try {
      // Each os-release answers only once both are asked for, the later machine's first: read one after the other, this List would hang.
      const waiting: { leader: ProcessRef | undefined; resolve: (fields: Map<string, string>) => void }[] = []
      ports.inspector.osRelease = (leader) => new Promise((resolve) => {
        waiting.push({ leader, resolve })
        if (waiting.length === 2) for (const w of [...waiting].reverse()) w.resolve(new Map([['ID', w.leader === undefined ? 'host' : 'guest']]))
      })
      c.send({ method: `${M}.List`, parameters: { acquireMetadata: 'graceful' }, more: true })
      const replies: Frame[] = []
      for (let r = (await c.next())!; ; r = (await c.next())!) {
        replies.push(r)
        if (r.continues !== true) break
      }
      assert.deepEqual(replies.map((r) => [(r.parameters as { name: string }).name, (r.parameters as { OSRelease?: string[] }).OSRelease]),
        [['.host', ['ID=host']], ['golden', ['ID=guest']], ['full', undefined]])
      // With "yes", the addresses' error comes first however late they answer, as systemd reads them first.
      ports.inspector.osRelease = osRelease
      ports.inspector.osReleaseFields = undefined
      const addresses = ports.inspector.addresses.bind(ports.inspector)
      ports.inspector.addresses = async () => { await new Promise((resolve) => setTimeout(resolve, 20)); return undefined }
      try {
        assert.deepEqual(await call('List', { name: 'golden', acquireMetadata: 'yes' }), err('NoPrivateNetworking'))
      } finally {
        ports.inspector.addresses = addresses
      }
    } finally {
      ports.inspector.osRelease = osRelease
    }
  })

  it('maps ids from and to a container', async () => {
    ports.inspector.maps = { uidMap: '0 100000 65536\n', gidMap: '0 200000 65536\n' }
    assert.deepEqual(await call('MapFrom', { name: 'golden', uid: 5, gid: 6 }), { parameters: { uid: 100005, gid: 200006 } })
    assert.deepEqual(await call('MapFrom', { name: 'golden', uid: 70000 }), err('NoSuchUser'))
    assert.deepEqual(await call('MapFrom', { name: 'golden', gid: 70000 }), err('NoSuchGroup'))
    assert.deepEqual(await call('MapFrom', { name: 'golden', uid: 0xffffffff }), bad('uid'))
    assert.deepEqual(await call('MapFrom', { name: 'full', uid: 5 }), err('NotSupported'))
    assert.deepEqual(await call('MapFrom', { uid: 5 }), err('NoSuchMachine'))
    assert.deepEqual(await call('MapTo', { uid: 100005 }), { parameters: { uid: 5, machineName: 'golden' } })
    assert.deepEqual(await call('MapTo', { uid: 100005, gid: 200007 }), { parameters: { uid: 5, gid: 7, machineName: 'golden' } })
    assert.deepEqual(await call('MapTo', { uid: 1000 }), err('UserInHostRange'))
    assert.deepEqual(await call('MapTo', { gid: 1000 }), err('GroupInHostRange'))
    assert.deepEqual(await call('MapTo', { uid: 900000 }), err('NoSuchUser'))
    assert.deepEqual(await call('MapTo', { gid: 900000 }), err('NoSuchGroup'))
    assert.deepEqual(await call('MapTo', {}), err('NoSuchMachine'))
  })

  it('checks Kill\'s signal before the lookup and whom after it, then signals', async () => {
    assert.deepEqual(await call('Kill', { name: 'nope', signal: 0 }), bad('signal'))
    assert.deepEqual(await call('Kill', { name: 'nope', signal: 65 }), bad('signal'))
    assert.deepEqual(await call('Kill', { name: 'golden' }), bad('signal'))
    assert.deepEqual(await call('Kill', { name: 'nope', signal: 15, whom: 'bogus' }), err('NoSuchMachine'))
    assert.deepEqual(await call('Kill', { name: 'golden', signal: 15, whom: 'bogus' }), bad('whom'))
    assert.deepEqual(await call('Kill', { name: 'golden', signal: 10, whom: 'leader' }), OK)
    assert.deepEqual(ports.processes.signals.at(-1), { pid: LEADER, signal: 10 })
    assert.deepEqual(await call('Kill', { name: 'golden', signal: '12' }), OK)
    assert.deepEqual(ports.units.callsOf('kill').at(-1), { op: 'kill', unit: 'machine-golden.scope', signal: 12 })
    assert.deepEqual(await call('Kill', { name: '.host', signal: 15 }), err('NotSupported'))
  })

  it('Open checks what systemd checks; a server that cannot pass fds (none here) then answers PermissionDenied and opens nothing', async () => {
    assert.deepEqual(await call('Open', { name: 'golden' }), bad('mode'))
    assert.deepEqual(await call('Open', { name: 'golden', mode: 'shell', user: 'a:b' }), bad('user'))
    assert.deepEqual(await call('Open', { name: 'golden', mode: 'shell', path: 'bin/sh' }), bad('path'))
    // NUL cannot reach a program's argv (json_dispatch_path() refuses it in the path; a string with one is no argument).
    assert.deepEqual(await call('Open', { name: 'golden', mode: 'shell', path: '/bin/sh\0x' }), bad('path'))
    assert.deepEqual(await call('Open', { name: 'golden', mode: 'shell', path: '/bin/sh', args: ['sh', '-c\0x'] }), bad('args'))
    assert.deepEqual(await call('Open', { name: 'golden', mode: 'shell', environment: ['A=1', 'A=2'] }), bad('environment'))
    assert.deepEqual(await call('Open', { name: 'nope', mode: 'login' }), err('NoSuchMachine'))
    assert.deepEqual(await call('Open', { name: 'full', mode: 'tty' }), err('NotSupported'))
    for (const mode of ['tty', 'login', 'shell']) {
      assert.deepEqual(await call('Open', { name: 'golden', mode }), { error: 'org.varlink.service.PermissionDenied', parameters: {} }, mode)
    }
    assert.deepEqual(ports.terminals.opened, [])
  })

  it('OpenRootDirectory: the machine first; a server that cannot pass fds (none here) then answers PermissionDenied and opens nothing', async () => {
    assert.deepEqual(await call('OpenRootDirectory', { name: 'nope' }), err('NoSuchMachine'))
    assert.deepEqual(await call('OpenRootDirectory', { name: 'golden' }), { error: 'org.varlink.service.PermissionDenied', parameters: {} })
    assert.deepEqual(ports.files.opened, [])
  })

  it('copies and bind mounts: paths checked as json_dispatch_const_path() does, then the core', async () => {
    for (const method of ['BindMount', 'CopyFrom', 'CopyTo'] as const) {
      assert.deepEqual(await call(method, { name: 'nope', source: '/a' }), err('NoSuchMachine'), method)
      assert.deepEqual(await call(method, { name: 'golden', source: 'a' }), bad('source'), method)
      assert.deepEqual(await call(method, { name: 'golden', source: '/a', destination: 'b' }), bad('destination'), method)
      assert.deepEqual(await call(method, { name: '.host', source: '/a' }), err('NotSupported'), method)
    }
    ports.inspector.maps = undefined // no user namespace
    assert.deepEqual(await call('CopyTo', { name: 'golden', source: '/h/a', destination: '/c/b', replace: true }), OK)
    assert.deepEqual(await call('CopyFrom', { name: 'golden', source: '/c/b' }), OK)
    assert.deepEqual(ports.files.copies.map((c) => [c.direction, c.hostPath, c.containerPath, c.replace]), [['to', '/h/a', '/c/b', true], ['from', '/c/b', '/c/b', false]])
    assert.deepEqual(await call('BindMount', { name: 'golden', source: '/h', readOnly: true }), OK)
    assert.deepEqual(ports.files.mounts.map((m) => [m.source, m.destination, m.readOnly, m.mkdir]), [['/h', '/h', true, false]])
  })

  it('terminates and unregisters by name or PID; .host stays', async () => {
    assert.deepEqual(await call('Terminate', { pid: { pid: 4700 } }), OK)
    assert.deepEqual(ports.units.callsOf('stop').at(-1), { op: 'stop', unit: 'machine-full.scope' })
    assert.deepEqual(await call('Unregister', { name: 'golden' }), OK)
    assert.equal(manager.find('golden'), undefined)
    assert.deepEqual(await call('Unregister', { name: 'golden' }), err('NoSuchMachine'))
    assert.deepEqual(await call('Unregister', { name: '.host' }), OK)
    assert.equal((await call('List', { name: '.host' })).parameters?.name, '.host')
  })
})
