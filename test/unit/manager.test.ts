// The Manager and what it does to machines, against fake ports (test/fakes/). Protects what
// clients of systemd-machined 252 observe: validation order and messages of
// Create*/Register* (golden capture 03), what is left behind (nothing, on
// failure), how machines end (unregister keeps processes, terminate stops
// the unit, GC only once the leader is dead AND the unit is empty), the
// `.host` machine, PID lookup, reloading state files, and authorisation.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import {
  AccessDeniedError, FailedError, FileExistsError, InvalidArgsError, LimitsExceededError, MachineExistsError,
  NoMachineForPidError, NoSuchMachineError, NoSuchProcessError, NotSupportedError, UnitExistsError,
} from '../../src/protocol/errors.ts'
import { Manager, type ManagerLimits } from '../../src/core/manager.ts'
import { killMachine, terminateMachine, unregisterMachine } from '../../src/core/machine-control.ts'
import { machineUidShift } from '../../src/core/machine-ids.ts'
import { registerMachine, type RegisterRequest } from '../../src/core/register.ts'
import { loadMachines } from '../../src/core/startup.ts'
import type { Caller } from '../../src/core/authorization.ts'
import type { Machine } from '../../src/core/machine.ts'
import { FAKE_MACHINE_ID, createFakePorts, type FakePorts } from '../fakes/ports.ts'
import { LEADER, registerRequest, rejectsWith, settle, throwsWith } from '../helpers/manager-fixtures.ts'

const ROOT: Caller = { uid: 0, pid: 999 }
const USER: Caller = { uid: 1000, pid: 5000 }
const GOLDEN_ID = Uint8Array.from([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01])

interface World {
  readonly ports: FakePorts
  readonly manager: Manager
  readonly events: { readonly added: string[]; readonly removed: string[] }
}

function world(options: { allowUserRegistration?: boolean; limits?: ManagerLimits } = {}): World {
  const ports = createFakePorts({ allowUserRegistration: options.allowUserRegistration ?? false })
  const manager = new Manager(ports, options.limits)
  const events = { added: [] as string[], removed: [] as string[] }
  manager.on({ machineNew: (m) => events.added.push(m.name), machineRemoved: (m) => events.removed.push(m.name) })
  return { ports, manager, events }
}

function names(manager: Manager): string[] {
  return manager.list().map((m) => m.name).sort()
}

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/machined-252/${name}`, import.meta.url), 'utf8')
}

void describe('register: validation', () => {
  void test('checks come in systemd\'s order: name, id, ifindices, class, leader, root', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    const steps: [Partial<RegisterRequest>, string][] = [
      [{ name: 'foo_bar' }, 'Invalid machine name'],
      [{ id: new Uint8Array(15) }, 'Invalid machine ID parameter'],
      [{ netifs: [2, 0, -1] }, 'Invalid network interface index 0'],
      [{ class: 'bogus' }, 'Invalid machine class parameter'],
      [{ leader: 1 }, 'Invalid leader PID'],
      [{ rootDirectory: 'relative/root' }, 'Root directory must be empty or an absolute path'],
    ]
    // Every fault at once, then fix them one by one: each time the next message shows.
    let bad: Partial<RegisterRequest> = Object.assign({}, ...steps.map(([o]) => o))
    for (const [fault, message] of steps) {
      await rejectsWith(registerMachine(manager, registerRequest(bad), ROOT), InvalidArgsError, message)
      bad = Object.fromEntries(Object.entries(bad).filter(([k]) => !(k in fault)))
    }
    assert.equal((await registerMachine(manager, registerRequest(bad), ROOT)).name, 'golden')
  })

  void test('names follow hostname rules; .host and 65 characters are refused', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    for (const name of ['', '.host', 'a'.repeat(65), 'foo.', '-foo', '\u00fc', 'a b']) {
      await rejectsWith(registerMachine(manager, registerRequest({ name }), ROOT), InvalidArgsError, 'Invalid machine name')
    }
    assert.equal((await registerMachine(manager, registerRequest({ name: 'a'.repeat(64) }), ROOT)).name, 'a'.repeat(64))
  })

  void test('ids of 15 and 17 bytes are refused; 0 and 16 bytes are fine', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    ports.processes.spawn(LEADER + 1)
    for (const n of [1, 15, 17, 32]) {
      await rejectsWith(registerMachine(manager, registerRequest({ id: new Uint8Array(n) }), ROOT), InvalidArgsError, 'Invalid machine ID parameter')
    }
    assert.equal((await registerMachine(manager, registerRequest({ name: 'noid' }), ROOT)).idString, '')
    const m = await registerMachine(manager, registerRequest({ name: 'withid', id: GOLDEN_ID, leader: LEADER + 1 }), ROOT)
    assert.equal(m.idString, '112233445566778899aabbccddeeff01')
  })

  void test('the first ifindex that is not positive is named, as a signed number', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    await rejectsWith(registerMachine(manager, registerRequest({ netifs: [1, -1, 0] }), ROOT), InvalidArgsError, 'Invalid network interface index -1')
    await rejectsWith(registerMachine(manager, registerRequest({ netifs: [0] }), ROOT), InvalidArgsError, 'Invalid network interface index 0')
    // Nonexistent and duplicate ifindices are stored as given.
    assert.deepEqual((await registerMachine(manager, registerRequest({ netifs: [999, 1, 1] }), ROOT)).netifs, [999, 1, 1])
  })

  void test('class "" passes validation and fails at start with NotSupported', async () => {
    const { ports, manager, events } = world()
    ports.processes.spawn(LEADER)
    await rejectsWith(registerMachine(manager, registerRequest({ class: '' }), ROOT), NotSupportedError, 'Operation not supported')
    await rejectsWith(registerMachine(manager, registerRequest({ class: '', allocateUnit: false }), ROOT), NotSupportedError, 'Operation not supported')
    assert.deepEqual(names(manager), ['.host'])
    assert.equal(ports.units.calls.length, 0)
    assert.equal(ports.state.files.size, 0)
    assert.deepEqual(events.added, [])
  })

  void test('class "host" is refused as an invalid class, as Debian\'s systemd-machined 252 answers (golden capture 03)', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    await rejectsWith(registerMachine(manager, registerRequest({ class: 'host' }), ROOT), InvalidArgsError, 'Invalid machine class parameter')
    await rejectsWith(registerMachine(manager, registerRequest({ class: 'host', leader: 1 }), ROOT), InvalidArgsError, 'Invalid machine class parameter')
  })

  void test('classes are case-sensitive', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    await rejectsWith(registerMachine(manager, registerRequest({ class: 'Container' }), ROOT), InvalidArgsError, 'Invalid machine class parameter')
  })

  void test('a root directory is stored verbatim, not normalised', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    assert.equal((await registerMachine(manager, registerRequest({ rootDirectory: '/x/./y//z/' }), ROOT)).rootDirectory, '/x/./y//z/')
  })

  void test('a leader that does not exist: "Failed to determine unit of process N : No such process"', async () => {
    const { manager } = world()
    await rejectsWith(registerMachine(manager, registerRequest({ leader: 4242 }), ROOT), NoSuchProcessError, 'Failed to determine unit of process 4242 : No such process')
    await rejectsWith(registerMachine(manager, registerRequest({ leader: 4242, allocateUnit: false }), ROOT), NoSuchProcessError, 'Failed to determine unit of process 4242 : No such process')
  })

  void test('an existing name gives MachineExists', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    ports.processes.spawn(LEADER + 1)
    await registerMachine(manager, registerRequest(), ROOT)
    await rejectsWith(registerMachine(manager, registerRequest({ leader: LEADER + 1 }), ROOT), MachineExistsError, "Machine 'golden' already exists")
    // The existence check comes before the class is refused at start.
    await rejectsWith(registerMachine(manager, registerRequest({ leader: LEADER + 1, class: '' }), ROOT), MachineExistsError, "Machine 'golden' already exists")
  })

  void test('MachineExists and NotSupported come before a bad scope property', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    ports.processes.spawn(LEADER + 1)
    await registerMachine(manager, registerRequest(), ROOT)
    const bogus = [{ name: 'Bogus', signature: 's', value: 'x' }]
    await rejectsWith(registerMachine(manager, registerRequest({ leader: LEADER + 1, scopeProperties: bogus }), ROOT), MachineExistsError, "Machine 'golden' already exists")
    await rejectsWith(registerMachine(manager, registerRequest({ name: 'other', leader: LEADER + 1, class: '', scopeProperties: bogus }), ROOT), NotSupportedError, 'Operation not supported')
  })

  void test('a leader that already leads a live machine gives FileExists and leaves that machine alone', async () => {
    const { ports, manager, events } = world()
    ports.processes.spawn(LEADER)
    const first = await registerMachine(manager, registerRequest(), ROOT)
    const callsBefore = ports.units.calls.length
    await rejectsWith(registerMachine(manager, registerRequest({ name: 'second' }), ROOT), FileExistsError, 'File exists')
    await rejectsWith(registerMachine(manager, registerRequest({ name: 'second', allocateUnit: false }), ROOT), FileExistsError, 'File exists')
    assert.deepEqual(names(manager), ['.host', 'golden'])
    assert.equal(ports.units.calls.length, callsBefore)
    assert.equal(ports.state.links.get(first.unit!.unit), 'golden')
    assert.ok(ports.state.files.has('golden'))
    assert.equal(await manager.getByPid(LEADER, ROOT), first)
    assert.deepEqual(events.added, ['golden'])
  })

  void test('leader 0 means the caller', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    const m = await registerMachine(manager, registerRequest({ leader: 0 }), { uid: 0, pid: LEADER })
    assert.equal(m.leader.pid, LEADER)
    await rejectsWith(registerMachine(manager, registerRequest({ name: 'nopid', leader: 0 }), { uid: 0, pid: undefined }), FailedError, 'Failed to determine the PID of the caller')
  })

  void test('the machine limit counts registered machines, not .host', async () => {
    const { ports, manager } = world({ limits: { maxMachines: 1 } })
    ports.processes.spawn(LEADER)
    ports.processes.spawn(LEADER + 1)
    await registerMachine(manager, registerRequest(), ROOT)
    await assert.rejects(registerMachine(manager, registerRequest({ name: 'two', leader: LEADER + 1 }), ROOT), LimitsExceededError)
  })
})

void describe('register: units and state', () => {
  void test('Create* makes machine-<escaped>.scope with machined\'s defaults plus the caller\'s properties', async () => {
    const { ports, manager, events } = world()
    const leader = ports.processes.spawn(LEADER, { startTime: 777n })
    const m = await registerMachine(manager, registerRequest({
      name: 'my-vm', scopeProperties: [{ name: 'KillSignal', signature: 'i', value: 37 }, { name: 'KillMode', signature: 's', value: 'mixed' }],
    }), ROOT)
    const [create, ...rest] = ports.units.calls
    assert.equal(rest.length, 0)
    assert.ok(create !== undefined && create.op === 'createScope')
    assert.equal(create.request.unit, 'machine-my\\x2dvm.scope')
    assert.equal(create.request.description, 'Container my-vm')
    assert.deepEqual(create.request.leader, leader)
    assert.equal(create.request.settings.slice, 'machine.slice')
    assert.equal(create.request.settings.tasksMax, 16384n)
    assert.equal(create.request.settings.killSignal, 37)
    assert.equal(create.request.settings.killMode, 'mixed')
    assert.deepEqual(m.unit, { unit: 'machine-my\\x2dvm.scope', cgroup: '/machine.slice/machine-my\\x2dvm.scope' })
    assert.equal(m.ownsUnit, true)
    assert.equal(m.state, 'running')
    assert.equal(ports.state.links.get('machine-my\\x2dvm.scope'), 'my-vm')
    assert.deepEqual(events.added, ['my-vm'])
  })

  void test('a vm\'s scope is described as a Virtual Machine', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    await registerMachine(manager, registerRequest({ name: 'v', class: 'vm' }), ROOT)
    const [create] = ports.units.callsOf('createScope')
    assert.equal(create?.request.description, 'Virtual Machine v')
  })

  void test('Register* adopts the unit the leader already lives in', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    const svc = ports.units.place(LEADER, 'probe-svc2.service')
    const m = await registerMachine(manager, registerRequest({ allocateUnit: false }), ROOT)
    assert.deepEqual(m.unit, svc)
    assert.equal(m.ownsUnit, false)
    assert.deepEqual(ports.units.callsOf('createScope'), [])
    assert.match(ports.state.files.get('golden') ?? '', /^SCOPE=probe-svc2\.service$/m)
    assert.equal(ports.state.links.get('probe-svc2.service'), 'golden')
  })

  void test('Register* makes a scope when the leader lives in no unit', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    const m = await registerMachine(manager, registerRequest({ allocateUnit: false }), ROOT)
    const [create] = ports.units.callsOf('createScope')
    assert.equal(create?.request.unit, 'machine-golden.scope')
    assert.equal(create?.request.settings.tasksMax, 16384n)
    assert.equal(m.unit?.unit, 'machine-golden.scope')
    assert.equal(m.ownsUnit, true)
  })

  void test('the state file is systemd 252\'s, plus LEADER_STARTTIME', async () => {
    const { ports, manager } = world()
    ports.clock.realtime = 1795615540288637n
    ports.clock.monotonic = 1860524588n
    ports.processes.spawn(5188, { startTime: 4242n })
    ports.units.place(5188, 'machine-golden.scope', '/machine.slice/machine-golden.scope')
    await registerMachine(manager, registerRequest({
      id: GOLDEN_ID, service: 'golden-svc', leader: 5188, rootDirectory: '/srv/golden', netifs: [], allocateUnit: false,
    }), ROOT)
    assert.equal(ports.state.files.get('golden'), `${fixture('state-file-example')}LEADER_STARTTIME=4242\n`)
  })

  void test('a failed state write leaves nothing: no file, scope released, name free', async () => {
    const { ports, manager, events } = world()
    ports.processes.spawn(LEADER)
    ports.state.failWrite = new Error('disk full')
    await assert.rejects(registerMachine(manager, registerRequest(), ROOT), { message: 'disk full' })
    assert.deepEqual(names(manager), ['.host'])
    assert.equal(ports.state.files.size, 0)
    assert.equal(ports.state.links.size, 0)
    assert.deepEqual(ports.units.callsOf('release').map((c) => c.unit), ['machine-golden.scope'])
    assert.deepEqual(events.added, [])
    await assert.rejects(manager.getByPid(LEADER, ROOT), NoMachineForPidError)
    assert.equal((await registerMachine(manager, registerRequest(), ROOT)).name, 'golden')
  })

  void test('a failed registration never releases a unit it adopted', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    ports.units.place(LEADER, 'probe.service')
    ports.state.failWrite = new Error('disk full')
    await assert.rejects(registerMachine(manager, registerRequest({ allocateUnit: false }), ROOT), { message: 'disk full' })
    assert.deepEqual(ports.units.callsOf('release'), [])
    assert.deepEqual(names(manager), ['.host'])
  })

  void test('a scope that cannot be created leaves nothing', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    ports.units.failCreateScope = new UnitExistsError('machine-golden.scope')
    await rejectsWith(registerMachine(manager, registerRequest(), ROOT), UnitExistsError, 'Unit machine-golden.scope already exists.')
    assert.deepEqual(names(manager), ['.host'])
    assert.equal(ports.state.files.size, 0)
    assert.deepEqual(ports.units.callsOf('release'), [])
  })
})

void describe('ending machines', () => {
  async function registered(options: { allocateUnit?: boolean } = {}): Promise<World & { machine: Machine }> {
    const w = world()
    w.ports.processes.spawn(LEADER)
    if (options.allocateUnit === false) w.ports.units.place(LEADER, 'probe.service')
    const machine = await registerMachine(w.manager, registerRequest({ allocateUnit: options.allocateUnit ?? true }), ROOT)
    return { ...w, machine }
  }

  void test('unregister forgets the machine, keeps its processes and releases the scope it made', async () => {
    const { ports, manager, events } = await registered()
    await unregisterMachine(manager, manager.get('golden'), ROOT)
    assert.deepEqual(names(manager), ['.host'])
    assert.deepEqual(ports.units.calls.map((c) => c.op), ['createScope', 'release'])
    assert.deepEqual(ports.processes.signals, [])
    assert.ok(ports.processes.isLive(LEADER))
    assert.equal(ports.state.files.size, 0)
    assert.equal(ports.state.links.size, 0)
    assert.deepEqual(events.removed, ['golden'])
    assert.equal(ports.units.watcherCount('machine-golden.scope'), 0)
    throwsWith(() => manager.get('golden'), NoSuchMachineError, "No machine 'golden' known")
  })

  void test('unregister does not release an adopted unit', async () => {
    const { ports, manager } = await registered({ allocateUnit: false })
    await unregisterMachine(manager, manager.get('golden'), ROOT)
    assert.deepEqual(ports.units.calls, [])
  })

  void test('terminate stops the unit and marks the machine closing; it goes once GC allows', async () => {
    const { ports, manager, events } = await registered()
    await terminateMachine(manager, manager.get('golden'), ROOT)
    await settle()
    assert.deepEqual(ports.units.callsOf('stop').map((c) => c.unit), ['machine-golden.scope'])
    assert.equal(manager.get('golden').state, 'closing')
    assert.deepEqual(events.removed, [])
    ports.processes.exit(LEADER)
    ports.units.markEmpty('machine-golden.scope')
    await settle()
    assert.deepEqual(names(manager), ['.host'])
    assert.deepEqual(events.removed, ['golden'])
  })

  void test('terminate also stops an adopted unit, as systemd 252 does', async () => {
    const { ports, manager } = await registered({ allocateUnit: false })
    await terminateMachine(manager, manager.get('golden'), ROOT)
    assert.deepEqual(ports.units.callsOf('stop').map((c) => c.unit), ['probe.service'])
  })

  void test('kill: unknown machine, then whom, then signal', async () => {
    const { manager } = await registered()
    throwsWith(() => manager.get('nosuch'), NoSuchMachineError, "No machine 'nosuch' known")
    await rejectsWith(killMachine(manager, manager.get('golden'), 'x', 65, ROOT), InvalidArgsError, "Invalid kill parameter 'x'")
    await rejectsWith(killMachine(manager, manager.get('golden'), 'LEADER', 15, ROOT), InvalidArgsError, "Invalid kill parameter 'LEADER'")
    for (const signal of [65, 0, -1]) {
      await rejectsWith(killMachine(manager, manager.get('golden'), 'leader', signal, ROOT), InvalidArgsError, `Invalid signal ${signal}`)
    }
  })

  void test('kill: "" and "all" signal the unit, "leader" the leader only; 64 is a valid signal', async () => {
    const { ports, manager } = await registered()
    await killMachine(manager, manager.get('golden'), '', 15, ROOT)
    await killMachine(manager, manager.get('golden'), 'all', 64, ROOT)
    await killMachine(manager, manager.get('golden'), 'leader', 9, ROOT)
    assert.deepEqual(ports.units.callsOf('kill').map((c) => [c.unit, c.signal]), [['machine-golden.scope', 15], ['machine-golden.scope', 64]])
    assert.deepEqual(ports.processes.signals, [{ pid: LEADER, signal: 9 }])
  })

  void test('kill leader on a dead leader: No such process', async () => {
    const { ports, manager } = await registered()
    ports.processes.exit(LEADER)
    await rejectsWith(killMachine(manager, manager.get('golden'), 'leader', 15, ROOT), NoSuchProcessError, 'No such process')
  })
})

void describe('.host', () => {
  void test('is always listed, with the host\'s facts', () => {
    const { manager } = world()
    const host = manager.get('.host')
    assert.equal(host, manager.host)
    assert.equal(host.class, 'host')
    assert.equal(host.leader.pid, 1)
    assert.equal(host.rootDirectory, '/')
    assert.equal(host.unit?.unit, '-.slice')
    assert.equal(host.state, 'running')
    assert.deepEqual(host.id, FAKE_MACHINE_ID)
  })

  void test('unregister answers success and keeps it', async () => {
    const { manager, events } = world()
    await unregisterMachine(manager, manager.get('.host'), ROOT)
    assert.deepEqual(names(manager), ['.host'])
    assert.deepEqual(events.removed, [])
  })

  void test('terminate and kill are not supported; kill still validates first', async () => {
    const { ports, manager } = world()
    await rejectsWith(terminateMachine(manager, manager.get('.host'), ROOT), NotSupportedError, 'Operation not supported')
    await rejectsWith(killMachine(manager, manager.get('.host'), 'all', 15, ROOT), NotSupportedError, 'Operation not supported')
    await rejectsWith(killMachine(manager, manager.get('.host'), 'bogus', 15, ROOT), InvalidArgsError, "Invalid kill parameter 'bogus'")
    assert.deepEqual(ports.units.calls, [])
    assert.deepEqual(ports.processes.signals, [])
  })

  void test('its UID shift is 0', async () => {
    const { ports, manager } = world()
    ports.inspector.maps = { uidMap: '0 100000 65536\n', gidMap: '0 100000 65536\n' }
    assert.equal(await machineUidShift(manager, manager.get('.host')), 0)
  })

  void test('PID 1 belongs to no machine, although .host\'s leader is 1', async () => {
    const { manager } = world()
    await rejectsWith(manager.getByPid(1, ROOT), NoMachineForPidError, 'PID 1 does not belong to any known machine')
  })

})

void describe('garbage collection', () => {
  void test('a machine goes only when its leader is dead AND its unit is empty', async () => {
    const { ports, manager, events } = world()
    ports.processes.spawn(LEADER)
    await registerMachine(manager, registerRequest(), ROOT)
    const unit = 'machine-golden.scope'

    ports.units.fire(unit) // spurious
    ports.units.markEmpty(unit) // leader alive, unit empty
    await settle()
    assert.deepEqual(names(manager), ['.host', 'golden'])

    ports.units.setPopulated(unit, true)
    ports.processes.exit(LEADER) // leader dead, unit populated
    ports.units.fire(unit)
    await settle()
    assert.deepEqual(names(manager), ['.host', 'golden'])
    assert.deepEqual(events.removed, [])

    ports.units.markEmpty(unit) // both over
    await settle()
    assert.deepEqual(names(manager), ['.host'])
    assert.deepEqual(events.removed, ['golden'])
    assert.equal(ports.state.files.has('golden'), false)
    assert.deepEqual(ports.units.callsOf('release').map((c) => c.unit), [unit])
    assert.equal(ports.units.watcherCount(unit), 0)
  })

  void test('registering over a dead but uncollected machine replaces it', async () => {
    const { ports, manager, events } = world()
    ports.processes.spawn(LEADER)
    ports.units.place(LEADER, 'old.service')
    const old = await registerMachine(manager, registerRequest({ allocateUnit: false }), ROOT)
    ports.processes.exit(LEADER)
    ports.units.setPopulated('old.service', false) // no watch fired: still listed
    assert.equal(manager.find('golden'), old)
    ports.processes.spawn(LEADER + 1)
    const fresh = await registerMachine(manager, registerRequest({ leader: LEADER + 1 }), ROOT)
    assert.notEqual(fresh, old)
    assert.equal(manager.get('golden'), fresh)
    assert.deepEqual(events.added, ['golden', 'golden'])
    assert.deepEqual(events.removed, ['golden'])
  })

  void test('a dead leader whose unit still has processes keeps the name taken', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    await registerMachine(manager, registerRequest(), ROOT)
    ports.processes.spawn(4700)
    ports.units.place(4700, 'machine-golden.scope', '/machine.slice/machine-golden.scope')
    ports.processes.exit(LEADER)
    ports.processes.spawn(LEADER + 1)
    await rejectsWith(registerMachine(manager, registerRequest({ leader: LEADER + 1 }), ROOT), MachineExistsError, "Machine 'golden' already exists")
  })
})

void describe('getByPid', () => {
  void test('finds a machine by its leader and by any process in its unit', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    const m = await registerMachine(manager, registerRequest(), ROOT)
    ports.processes.spawn(4607)
    ports.units.place(4607, 'machine-golden.scope', '/machine.slice/machine-golden.scope/payload')
    assert.equal(await manager.getByPid(LEADER, ROOT), m)
    assert.equal(await manager.getByPid(4607, ROOT), m)
  })

  void test('0 means the caller', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    const m = await registerMachine(manager, registerRequest(), ROOT)
    assert.equal(await manager.getByPid(0, { uid: 1000, pid: LEADER }), m)
    ports.processes.spawn(5030)
    await rejectsWith(manager.getByPid(0, { uid: 1000, pid: 5030 }), NoMachineForPidError, 'PID 5030 does not belong to any known machine')
    await assert.rejects(manager.getByPid(0, { uid: 0, pid: undefined }), FailedError)
  })

  void test('PIDs outside pid_t are invalid arguments', async () => {
    const { manager } = world()
    for (const pid of [2 ** 31, 4294967295, -1, 1.5]) {
      await rejectsWith(manager.getByPid(pid, ROOT), InvalidArgsError, 'Invalid argument')
    }
    await rejectsWith(manager.getByPid(2 ** 31 - 1, ROOT), NoMachineForPidError, `PID ${2 ** 31 - 1} does not belong to any known machine`)
  })

  void test('a dead leader is never the answer, even when its PID is reused', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    ports.units.place(LEADER, 'probe.service')
    await registerMachine(manager, registerRequest({ allocateUnit: false }), ROOT)
    ports.processes.exit(LEADER)
    await rejectsWith(manager.getByPid(LEADER, ROOT), NoMachineForPidError, `PID ${LEADER} does not belong to any known machine`)
    ports.processes.spawn(LEADER, { startTime: 99999n })
    ports.units.place(LEADER, 'unrelated.service')
    await rejectsWith(manager.getByPid(LEADER, ROOT), NoMachineForPidError, `PID ${LEADER} does not belong to any known machine`)
  })
})

void describe('load', () => {
  function stateFile(name: string, lines: string[]): string {
    return ['# This is private data. Do not parse.', `NAME=${name}`, ...lines, ''].join('\n')
  }

  void test('restores a machine systemd 252 saved whose leader still runs in its scope', async () => {
    const { ports, manager, events } = world()
    ports.state.files.set('golden', fixture('state-file-example'))
    ports.processes.spawn(5188, { startTime: 31337n })
    ports.units.place(5188, 'machine-golden.scope', '/machine.slice/machine-golden.scope')
    await loadMachines(manager)
    await settle()
    assert.ok(ports.state.initialised)
    const m = manager.get('golden')
    assert.deepEqual(events.added, ['golden'])
    assert.equal(m.state, 'running')
    assert.equal(m.service, 'golden-svc')
    assert.equal(m.rootDirectory, '/srv/golden')
    assert.equal(m.idString, '112233445566778899aabbccddeeff01')
    assert.deepEqual(m.timestamp, { realtime: 1795615540288637n, monotonic: 1860524588n })
    assert.equal(m.ownsUnit, true)
    assert.deepEqual(ports.units.callsOf('reattach').map((c) => c.unit), ['machine-golden.scope'])
    // Rewritten with the start time we now know, and the unit: link is back.
    assert.equal(ports.state.files.get('golden'), `${fixture('state-file-example')}LEADER_STARTTIME=31337\n`)
    assert.equal(ports.state.links.get('machine-golden.scope'), 'golden')
    assert.equal(await manager.getByPid(5188, ROOT), m)
  })

  void test('a recycled PID (LEADER_STARTTIME differs) is dropped with its files', async () => {
    const { ports, manager, events } = world()
    ports.state.files.set('golden', `${fixture('state-file-example')}LEADER_STARTTIME=500\n`)
    ports.state.links.set('machine-golden.scope', 'golden')
    ports.processes.spawn(5188, { startTime: 501n })
    ports.units.place(5188, 'machine-golden.scope', '/machine.slice/machine-golden.scope')
    await loadMachines(manager)
    assert.deepEqual(names(manager), ['.host'])
    assert.deepEqual(events.added, [])
    assert.equal(ports.state.files.has('golden'), false)
    assert.equal(ports.state.links.has('machine-golden.scope'), false)
    assert.ok(ports.log.messages().includes('PID of leader got recycled, ignoring'))
  })

  void test('a dead leader is dropped; its own scope is reattached and released', async () => {
    const { ports, manager } = world()
    ports.state.files.set('gone', stateFile('gone', ['SCOPE=machine-gone.scope', 'LEADER=6000', 'CLASS=container']))
    ports.state.links.set('machine-gone.scope', 'gone')
    await loadMachines(manager)
    assert.deepEqual(names(manager), ['.host'])
    assert.equal(ports.state.files.size, 0)
    assert.equal(ports.state.links.size, 0)
    assert.deepEqual(ports.units.calls.map((c) => [c.op, 'unit' in c ? c.unit : '']), [['reattach', 'machine-gone.scope'], ['release', 'machine-gone.scope']])
  })

  void test('a leader that moved to another unit (no start time on file) is not trusted', async () => {
    const { ports, manager } = world()
    ports.state.files.set('moved', stateFile('moved', ['SCOPE=machine-moved.scope', 'LEADER=6001', 'CLASS=vm']))
    ports.processes.spawn(6001)
    ports.units.place(6001, 'something-else.service')
    await loadMachines(manager)
    assert.deepEqual(names(manager), ['.host'])
    assert.equal(ports.state.files.has('moved'), false)
  })

  void test('a file without a usable class is dropped', async () => {
    const { ports, manager } = world()
    ports.state.files.set('nocls', stateFile('nocls', ['LEADER=6002']))
    ports.processes.spawn(6002)
    await loadMachines(manager)
    assert.deepEqual(names(manager), ['.host'])
  })

  void test('corrupt files are ignored and do not stop the others', async () => {
    const { ports, manager } = world()
    ports.state.files.set('liar', stateFile('someone-else', ['LEADER=6003', 'CLASS=container']))
    ports.state.files.set('junk', '\u0000\u0001\u0002 garbage == not a state file\n')
    ports.state.files.set('ok', stateFile('ok', ['LEADER=6004', 'CLASS=container']))
    ports.processes.spawn(6003)
    ports.processes.spawn(6004)
    await loadMachines(manager)
    await settle()
    assert.deepEqual(names(manager), ['.host', 'ok'])
    assert.ok(ports.log.messages('warn').includes('Failed to load machine state, ignoring'))
    assert.equal(ports.state.files.has('junk'), false)
  })
})

void describe('authorisation', () => {
  async function rootMachine(options: { allowUserRegistration?: boolean } = {}): Promise<World> {
    const w = world(options)
    w.ports.processes.spawn(LEADER)
    await registerMachine(w.manager, registerRequest(), ROOT)
    return w
  }

  void test('a non-root caller may not register', async () => {
    const { ports, manager, events } = world()
    ports.processes.spawn(LEADER, { uid: USER.uid })
    await assert.rejects(registerMachine(manager, registerRequest(), USER), AccessDeniedError)
    await assert.rejects(registerMachine(manager, registerRequest({ allocateUnit: false }), USER), AccessDeniedError)
    assert.deepEqual(names(manager), ['.host'])
    assert.deepEqual(ports.units.calls, [])
    assert.deepEqual(events.added, [])
  })

  void test('a non-root caller may not unregister, terminate or kill', async () => {
    for (const allowUserRegistration of [false, true]) {
      const { ports, manager } = await rootMachine({ allowUserRegistration })
      await assert.rejects(unregisterMachine(manager, manager.get('golden'), USER), AccessDeniedError)
      await assert.rejects(terminateMachine(manager, manager.get('golden'), USER), AccessDeniedError)
      await assert.rejects(killMachine(manager, manager.get('golden'), 'all', 15, USER), AccessDeniedError)
      await assert.rejects(killMachine(manager, manager.get('golden'), 'leader', 15, USER), AccessDeniedError)
      assert.deepEqual(names(manager), ['.host', 'golden'])
      assert.equal(manager.get('golden').state, 'running')
      assert.deepEqual(ports.units.calls.map((c) => c.op), ['createScope'])
      assert.deepEqual(ports.processes.signals, [])
    }
  })

  void test('bad kill arguments are reported before access is checked', async () => {
    const { manager } = await rootMachine()
    await rejectsWith(killMachine(manager, manager.get('golden'), 'bogus', 15, USER), InvalidArgsError, "Invalid kill parameter 'bogus'")
  })

  void test('with user registration on, a user may register a machine whose leader they own', async () => {
    const { ports, manager } = world({ allowUserRegistration: true })
    ports.processes.spawn(LEADER, { uid: USER.uid })
    const m = await registerMachine(manager, registerRequest(), USER)
    assert.equal(m.ownerUid, USER.uid)
    await unregisterMachine(manager, manager.get('golden'), USER)
  })
})
