// Registering machines (register.ts) against fake ports (test/fakes/).
// Protects what clients of systemd-machined 252 observe of Create*/Register*:
// the order and messages of its checks (golden capture 03), the scope made
// or adopted, the state file, and what is left behind on failure (nothing).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  FailedError, FileExistsError, InvalidArgsError, LimitsExceededError, MachineExistsError, NoMachineForPidError, NoSuchProcessError,
  NotSupportedError, UnitExistsError,
} from '../../src/protocol/errors.ts'
import { registerMachine, type RegisterRequest } from '../../src/core/register.ts'
import type { Caller } from '../../src/core/authorization.ts'
import { fixture, LEADER, names, registerRequest, rejectsWith, world } from '../helpers/manager-fixtures.ts'

const ROOT: Caller = { uid: 0, pid: 999 }
const GOLDEN_ID = Uint8Array.from([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01])

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
    let bad = steps.reduce<Partial<RegisterRequest>>((all, [o]) => ({ ...all, ...o }), {})
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

