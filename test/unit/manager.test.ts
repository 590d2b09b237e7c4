// The Manager registry and what is done to a registered machine, against
// fake ports (test/fakes/). Protects what clients of systemd-machined 252
// observe: how machines end (unregister keeps processes, terminate stops
// the unit, GC only once the leader is dead AND the unit is empty), the
// `.host` machine, PID lookup, and authorisation.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  AccessDeniedError, FailedError, InvalidArgsError, MachineExistsError, NoMachineForPidError, NoSuchMachineError, NoSuchProcessError,
  NotSupportedError,
} from '../../src/protocol/errors.ts'
import { killMachine, terminateMachine, unregisterMachine } from '../../src/core/machine-control.ts'
import { machineUidShift } from '../../src/core/machine-ids.ts'
import { registerMachine } from '../../src/core/register.ts'
import type { Caller } from '../../src/core/authorization.ts'
import type { Machine } from '../../src/core/machine.ts'
import { FAKE_MACHINE_ID } from '../fakes/ports.ts'
import { LEADER, names, registerRequest, rejectsWith, settle, throwsWith, world, type World } from '../helpers/manager-fixtures.ts'

const ROOT: Caller = { uid: 0, pid: 999 }
const USER: Caller = { uid: 1000, pid: 5000 }

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
