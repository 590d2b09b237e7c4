// The Manager's trust rules against fake ports: leaders held by pidfd (a
// PID reused, even within the same clock tick, is never taken for a dead
// leader; the leader's exit queues GC at once), LeaderPIDFD/LeaderPIDFDID
// with newer systemd's checks and texts, LEADER_PIDFDID= on file and after
// a restart, ownership rules ("Only root may register machines for other
// users"), what other users may see (CVE-2016-6349), limits per UID and
// on operations, and the clean-up after a crash (scopes and links no
// machine claims, terminations cut short).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  AccessDeniedError, InvalidArgsError, LimitsExceededError, NoMachineForPidError, NoSuchProcessError, TooManyOperationsError,
} from '../../src/protocol/errors.ts'
import { Manager, type ManagerLimits } from '../../src/core/manager.ts'
import { ACTIONS, type Caller } from '../../src/core/authorization.ts'
import { killMachine, terminateMachine, unregisterMachine } from '../../src/core/machine-control.ts'
import { openMachineRootDirectory } from '../../src/core/machine-files.ts'
import { machineAddresses } from '../../src/core/machine-inspect.ts'
import { registerMachine, type RegisterRequest } from '../../src/core/register.ts'
import { loadMachines } from '../../src/core/startup.ts'
import { OPERATIONS_MAX, Operations } from '../../src/core/operations.ts'
import { MachineQuota } from '../../src/core/quota.ts'
import { createFakePorts, type FakePorts } from '../fakes/ports.ts'
import type { Address } from '../../src/core/ports.ts'
import { parseStatusUid } from '../../src/linux/proc.ts'
import { LEADER, registerRequest, rejectsWith, settle } from '../helpers/manager-fixtures.ts'

const request = (overrides: Partial<RegisterRequest> = {}): RegisterRequest => registerRequest({ rootDirectory: '/srv/golden', ...overrides })

const ROOT: Caller = { uid: 0, pid: 999 }
const ALICE: Caller = { uid: 1000, pid: 5000 }
const BOB: Caller = { uid: 1001, pid: 5001 }

function world(options: { allowUserRegistration?: boolean; limits?: ManagerLimits } = {}): { ports: FakePorts; manager: Manager; removed: string[] } {
  const ports = createFakePorts({ allowUserRegistration: options.allowUserRegistration ?? false })
  const manager = new Manager(ports, options.limits)
  const removed: string[] = []
  manager.on({ machineRemoved: (m) => removed.push(m.name) })
  return { ports, manager, removed }
}

const names = (manager: Manager): string[] => manager.list().map((m) => m.name).sort()

void describe('leaders held by pidfd', () => {
  void test('the leader\'s exit queues GC at once: a machine whose scope is empty goes without any scope event', async () => {
    const { ports, manager, removed } = world()
    ports.processes.spawn(LEADER)
    await registerMachine(manager, request(), ROOT)
    assert.equal(ports.processes.heldCount, 1)
    ports.units.setPopulated('machine-golden.scope', false) // emptied, but no cgroup event came
    ports.processes.exit(LEADER)
    await settle()
    assert.deepEqual(names(manager), ['.host'])
    assert.deepEqual(removed, ['golden'])
    assert.equal(ports.processes.heldCount, 0, 'the pidfd is let go with the machine')
  })

  void test('a PID reused with the same start time (one clock tick) is still not the leader', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER, { startTime: 500n, pidfdId: 7001 })
    ports.units.place(LEADER, 'probe.service')
    const m = await registerMachine(manager, request({ allocateUnit: false }), ROOT)
    assert.equal(m.leader.pidfdId, 7001)
    ports.processes.exit(LEADER)
    // The unit keeps other processes, so the machine stays listed while its leader is dead.
    ports.processes.spawn(LEADER, { startTime: 500n, pidfdId: 7002 })
    ports.units.place(LEADER, 'probe.service')
    await settle()
    assert.deepEqual(names(manager), ['.host', 'golden'])
    await rejectsWith(manager.getByPid(LEADER, ROOT), NoMachineForPidError, `PID ${LEADER} does not belong to any known machine`)
    await rejectsWith(killMachine(manager, manager.get('golden'), 'leader', 9, ROOT), NoSuchProcessError, 'No such process')
    assert.deepEqual(ports.processes.signals, [], 'the new process got no signal')
    // A new registration may take the PID: the old leader is dead.
    const fresh = await registerMachine(manager, request({ name: 'fresh', allocateUnit: false }), ROOT)
    assert.equal(await manager.getByPid(LEADER, ROOT), fresh)
  })

  void test('a machine whose leader died answers no PID lookup, not even for a process left in its unit', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    await registerMachine(manager, request(), ROOT)
    ports.processes.spawn(4700)
    ports.units.place(4700, 'machine-golden.scope', '/machine.slice/machine-golden.scope')
    assert.equal((await manager.getByPid(4700, ROOT)).name, 'golden')
    ports.processes.exit(LEADER)
    await settle()
    assert.deepEqual(names(manager), ['.host', 'golden'], 'kept while its scope has processes')
    await assert.rejects(manager.getByPid(4700, ROOT), NoMachineForPidError)
  })

  void test('kill leader goes through the held process', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    await registerMachine(manager, request(), ROOT)
    await killMachine(manager, manager.get('golden'), 'leader', 15, ROOT)
    assert.deepEqual(ports.processes.signals, [{ pid: LEADER, signal: 15 }])
  })

  void test('LEADER_PIDFDID= is written when known, and a reused PID is refused on reload', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER, { startTime: 500n, pidfdId: 7001 })
    await registerMachine(manager, request(), ROOT)
    const file = ports.state.files.get('golden') ?? ''
    assert.match(file, /\nLEADER=4605\n/)
    assert.match(file, /\nLEADER_PIDFDID=7001\nLEADER_STARTTIME=500\n$/)
    manager.dispose()
    assert.equal(ports.processes.heldCount, 0, 'dispose lets go of every pidfd')

    // Restart: the same PID and start time, another process (only the pidfd inode number tells).
    ports.processes.exit(LEADER)
    ports.processes.spawn(LEADER, { startTime: 500n, pidfdId: 7002 })
    ports.units.place(LEADER, 'machine-golden.scope', '/machine.slice/machine-golden.scope')
    const again = new Manager(ports)
    await loadMachines(again)
    assert.deepEqual(names(again), ['.host'])
    assert.equal(ports.state.files.has('golden'), false)
    assert.ok(ports.log.messages().includes('PID of leader got recycled, ignoring'))
  })

  void test('the right process on reload is held again', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER, { startTime: 500n, pidfdId: 7001 })
    await registerMachine(manager, request(), ROOT)
    manager.dispose()
    const again = new Manager(ports)
    await loadMachines(again)
    assert.deepEqual(names(again), ['.host', 'golden'])
    assert.equal(ports.processes.heldCount, 1)
    assert.equal(again.get('golden').leader.pidfdId, 7001)
  })
})

void describe('LeaderPIDFD and LeaderPIDFDID (newer systemd\'s texts)', () => {
  void test('a pidfd names the leader', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER, { pidfdId: 9001 })
    const fd = ports.processes.openPidfd(LEADER)
    const m = await registerMachine(manager, request({ leader: 0, leaderPidfd: fd }), ROOT)
    assert.equal(m.leader.pid, LEADER)
    assert.equal(m.leader.pidfdId, 9001)
  })

  void test('every way the three can disagree', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER, { pidfdId: 9001 })
    ports.processes.spawn(LEADER + 1, { pidfdId: 9002 })
    const fd = ports.processes.openPidfd(LEADER)
    await rejectsWith(registerMachine(manager, request({ leader: LEADER + 1, leaderPidfd: fd }), ROOT), InvalidArgsError, 'LeaderPID and LeaderPIDFD refer to different processes')
    await rejectsWith(registerMachine(manager, request({ leader: 0, leaderPidfd: fd, leaderPidfdId: 9002 }), ROOT), InvalidArgsError, 'LeaderPIDFDID does not match the inode number of LeaderPIDFD')
    await rejectsWith(registerMachine(manager, request({ leader: 0, leaderPidfdId: 9001 }), ROOT), InvalidArgsError, 'Both LeaderPID and LeaderPIDFDID must be specified to identify the leader process by PIDFDID')
    await rejectsWith(registerMachine(manager, request({ leader: LEADER, leaderPidfdId: 9002 }), ROOT), NoSuchProcessError, `Failed to pin process ${LEADER} by PIDFDID 9002: No such process`)
    await rejectsWith(registerMachine(manager, request({ leader: 0, leaderPidfd: 4 }), ROOT), InvalidArgsError, 'Failed to parse PIDFD 4: Inappropriate ioctl for device')
    ports.processes.exit(LEADER)
    await rejectsWith(registerMachine(manager, request({ leader: 0, leaderPidfd: fd }), ROOT), NoSuchProcessError, `Failed to parse PIDFD ${fd}: No such process`)
    const init = ports.processes.openPidfd(1)
    await rejectsWith(registerMachine(manager, request({ leader: 0, leaderPidfd: init }), ROOT), InvalidArgsError, 'Invalid leader PID')
    assert.deepEqual(names(manager), ['.host'])
    assert.equal(ports.processes.heldCount, 0, 'no pidfd is kept by a failed registration')
    // LeaderPID with the right LEADER_PIDFDID works.
    assert.equal((await registerMachine(manager, request({ leader: LEADER + 1, leaderPidfdId: 9002 }), ROOT)).leader.pid, LEADER + 1)
  })
})

void describe('ownership and what others may see', () => {
  void test('only root may register machines for other users, whatever the policy', async () => {
    for (const allowUserRegistration of [false, true]) {
      const { ports, manager } = world({ allowUserRegistration })
      ports.processes.spawn(LEADER, { uid: BOB.uid })
      await rejectsWith(registerMachine(manager, request(), ALICE), AccessDeniedError, 'Only root may register machines for other users')
      ports.processes.spawn(LEADER + 1, { uid: 0 })
      await rejectsWith(registerMachine(manager, request({ leader: LEADER + 1 }), ALICE), AccessDeniedError, 'Only root may register machines for other users')
      assert.equal((await registerMachine(manager, request(), ROOT)).ownerUid, 0, 'root may')
    }
  })

  void test('a process with mixed UIDs (setuid, started by its real user) is nobody\'s: its user may not register or open it', () => {
    assert.equal(parseStatusUid('Name:\tsleep\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n'), 1000)
    assert.equal(parseStatusUid('Uid:\t1000\t0\t0\t0\n'), undefined)
    assert.equal(parseStatusUid('Uid:\t0\t1000\t1000\t1000\n'), undefined)
    assert.equal(parseStatusUid('Uid:\t1000\n'), undefined)
  })

  void test('without user registration, a user\'s own leader is refused too (Permission denied)', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER, { uid: ALICE.uid })
    await rejectsWith(registerMachine(manager, request(), ALICE), AccessDeniedError, 'Permission denied')
  })

  void test('a user acts on their own machines only; reaching into one is refused to others', async () => {
    const { ports, manager } = world({ allowUserRegistration: true })
    ports.processes.spawn(LEADER, { uid: ALICE.uid })
    await registerMachine(manager, request(), ALICE)
    for (const act of [
      () => unregisterMachine(manager, manager.get('golden'), BOB), () => terminateMachine(manager, manager.get('golden'), BOB), () => killMachine(manager, manager.get('golden'), 'all', 9, BOB),
    ]) await rejectsWith(act(), AccessDeniedError, 'Permission denied')
    await rejectsWith(openMachineRootDirectory(manager, manager.get('golden'), BOB), AccessDeniedError, 'Permission denied')
    assert.equal(typeof await openMachineRootDirectory(manager, manager.get('golden'), ALICE), 'number')
    assert.equal(typeof await openMachineRootDirectory(manager, manager.get('golden'), ROOT), 'number')
    await rejectsWith(openMachineRootDirectory(manager, manager.get('.host'), ALICE), AccessDeniedError, 'Permission denied')
    assert.throws(() => manager.ports.authorizer.check(ALICE, ACTIONS.manageImages), AccessDeniedError)
    manager.ports.authorizer.check(ROOT, ACTIONS.manageImages)
    await killMachine(manager, manager.get('golden'), 'leader', 10, ALICE)
    assert.deepEqual(ports.processes.signals, [{ pid: LEADER, signal: 10 }])
  })

  void test('a user\'s RegisterMachine gets a scope of its own: stopping or killing it never reaches the unit the leader sat in', async () => {
    const { ports, manager } = world({ allowUserRegistration: true })
    ports.processes.spawn(LEADER, { uid: ALICE.uid })
    // A user's cron job runs in cron.service, next to the root-owned cron daemon.
    ports.units.place(LEADER, 'cron.service')
    const m = await registerMachine(manager, request({ allocateUnit: false }), ALICE)
    assert.equal(m.unit?.unit, 'machine-golden.scope')
    await killMachine(manager, manager.get('golden'), 'all', 9, ALICE)
    await terminateMachine(manager, manager.get('golden'), ALICE)
    assert.deepEqual(ports.units.calls.filter((c) => c.op === 'kill' || c.op === 'stop').map((c) => c.unit), ['machine-golden.scope', 'machine-golden.scope'])
    // Root's RegisterMachine still adopts the leader's unit, as systemd's does.
    ports.processes.spawn(LEADER + 1, { uid: ALICE.uid })
    ports.units.place(LEADER + 1, 'cron.service')
    assert.equal((await registerMachine(manager, request({ name: 'rooted', leader: LEADER + 1, allocateUnit: false }), ROOT)).unit?.unit, 'cron.service')
  })

  void test('the root directory and SSH key path show to root and the owner only (CVE-2016-6349)', async () => {
    const { ports, manager } = world({ allowUserRegistration: true })
    ports.processes.spawn(LEADER, { uid: ALICE.uid })
    const m = await registerMachine(manager, request({ sshPrivateKeyPath: '/home/alice/.ssh/id' }), ALICE)
    assert.deepEqual(manager.view(m, ROOT), { rootDirectory: '/srv/golden', sshPrivateKeyPath: '/home/alice/.ssh/id' })
    assert.deepEqual(manager.view(m, ALICE), { rootDirectory: '/srv/golden', sshPrivateKeyPath: '/home/alice/.ssh/id' })
    assert.deepEqual(manager.view(m, BOB), { rootDirectory: '', sshPrivateKeyPath: undefined })
    assert.deepEqual(manager.view(m, undefined), { rootDirectory: '', sshPrivateKeyPath: undefined })
    assert.equal(manager.view(manager.host, BOB).rootDirectory, '/')
  })
})

void describe('limits', () => {
  void test('machines per UID: root is bounded by the total only; a failed registration takes no place', async () => {
    const { ports, manager } = world({ allowUserRegistration: true, limits: { maxMachines: 5, maxMachinesPerUid: 2 } })
    for (let i = 0; i < 5; i++) ports.processes.spawn(LEADER + i, { uid: ALICE.uid })
    await registerMachine(manager, request({ name: 'a0', leader: LEADER }), ALICE)
    await rejectsWith(registerMachine(manager, request({ name: 'a1', leader: 4242 }), ALICE), NoSuchProcessError, 'Failed to determine unit of process 4242 : No such process')
    await registerMachine(manager, request({ name: 'a1', leader: LEADER + 1 }), ALICE)
    await rejectsWith(registerMachine(manager, request({ name: 'a2', leader: LEADER + 2 }), ALICE), LimitsExceededError, 'Too many machines registered by UID 1000 (2)')
    await unregisterMachine(manager, manager.get('a0'), ALICE)
    await registerMachine(manager, request({ name: 'a2', leader: LEADER + 2 }), ALICE)
    ports.processes.spawn(6000)
    ports.processes.spawn(6001)
    ports.processes.spawn(6002)
    await registerMachine(manager, request({ name: 'r0', leader: 6000 }), ROOT)
    await registerMachine(manager, request({ name: 'r1', leader: 6001 }), ROOT)
    await registerMachine(manager, request({ name: 'r2', leader: 6002 }), ROOT)
    ports.processes.spawn(6003)
    await rejectsWith(registerMachine(manager, request({ name: 'r3', leader: 6003 }), ROOT), LimitsExceededError, 'Too many machines registered (5)')
    assert.equal(manager.list().length, 6)
  })

  void test('registrations refused for the leader\'s owner hold no place: a burst of them is AccessDenied every one, never LimitsExceeded', async () => {
    const { ports, manager } = world({ allowUserRegistration: true, limits: { maxMachines: 5, maxMachinesPerUid: 2 } })
    ports.processes.spawn(LEADER, { uid: 0 })
    const burst = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => registerMachine(manager, request({ name: `theirs${i}` }), ALICE)))
    assert.deepEqual(burst.map((r) => r.status === 'rejected' ? (r.reason as Error).message : 'registered'), Array(6).fill('Only root may register machines for other users'))
    ports.processes.spawn(LEADER + 1, { uid: ALICE.uid })
    ports.processes.spawn(LEADER + 2, { uid: ALICE.uid })
    await registerMachine(manager, request({ name: 'mine0', leader: LEADER + 1 }), ALICE)
    await registerMachine(manager, request({ name: 'mine1', leader: LEADER + 2 }), ALICE)
  })

  void test('concurrent registrations cannot overshoot the limit', async () => {
    const { ports, manager } = world({ limits: { maxMachines: 3 } })
    for (let i = 0; i < 10; i++) ports.processes.spawn(LEADER + i)
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => registerMachine(manager, request({ name: `m${i}`, leader: LEADER + i }), ROOT)))
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3)
    assert.equal(manager.list().length, 4)
  })

  void test('MachineQuota hands places back', () => {
    const q = new MachineQuota({ maxMachines: 2, maxMachinesPerUid: 1 })
    q.reserve(5)
    assert.throws(() => q.reserve(5), LimitsExceededError)
    q.reserve(0)
    assert.throws(() => q.reserve(0), LimitsExceededError)
    q.release(5)
    assert.equal(q.used(5), 0)
    q.force(5)
    q.force(5)
    assert.equal(q.total, 3)
  })

  void test(`at most ${OPERATIONS_MAX} operations run at once; the next is TooManyOperations`, async () => {
    const ops = new Operations()
    const gates: (() => void)[] = []
    const running = Array.from({ length: OPERATIONS_MAX }, () => ops.run(() => new Promise<void>((resolve) => gates.push(resolve))))
    assert.equal(ops.size, OPERATIONS_MAX)
    await assert.rejects(ops.run(async () => undefined), TooManyOperationsError)
    for (const open of gates) open()
    await Promise.all(running)
    assert.equal(ops.size, 0)
    assert.equal(ops.peak, OPERATIONS_MAX)
    await ops.run(async () => undefined)
  })

  void test('looking at addresses is an operation', async () => {
    const { ports, manager } = world({ limits: { maxMachines: 10, maxOperations: 2 } })
    const gates: (() => void)[] = []
    ports.inspector.addresses = () => new Promise<Address[] | undefined>((resolve) => gates.push(() => resolve([])))
    const a = machineAddresses(manager, manager.get('.host'))
    const b = machineAddresses(manager, manager.get('.host'))
    await settle()
    assert.equal(manager.operations, 2)
    await rejectsWith(machineAddresses(manager, manager.get('.host')), TooManyOperationsError, 'Too many ongoing operations.')
    for (const open of gates) open()
    assert.deepEqual(await Promise.all([a, b]), [[], []])
    assert.equal(manager.operations, 0)
  })
})

void describe('clean-up after a crash', () => {
  void test('a termination answered before a crash is carried out after the restart (STOPPING=1)', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    await registerMachine(manager, request(), ROOT)
    assert.doesNotMatch(ports.state.files.get('golden')!, /STOPPING/)
    await terminateMachine(manager, manager.get('golden'), ROOT)
    assert.match(ports.state.files.get('golden')!, /\nSTOPPING=1\n$/)
    assert.equal(manager.get('golden').state, 'closing')
    // The leader ignores SIGTERM, and the daemon dies before its stop timeout.
    manager.dispose()
    const again = new Manager(ports)
    await loadMachines(again)
    assert.equal(again.get('golden').state, 'closing')
    assert.match(ports.state.files.get('golden')!, /\nSTOPPING=1\n$/)
    assert.deepEqual(ports.units.callsOf('stop').map((c) => c.unit), ['machine-golden.scope', 'machine-golden.scope'])
    // Once the leader is gone and the scope empty, the machine goes as usual.
    ports.units.setPopulated('machine-golden.scope', false)
    ports.processes.exit(LEADER)
    await settle()
    assert.deepEqual(names(again), ['.host'])
    assert.equal(ports.state.files.has('golden'), false)
  })

  void test('a machine that is running is not stopped on reload', async () => {
    const { ports, manager } = world()
    ports.processes.spawn(LEADER)
    await registerMachine(manager, request(), ROOT)
    manager.dispose()
    const again = new Manager(ports)
    await loadMachines(again)
    assert.equal(again.get('golden').state, 'running')
    assert.deepEqual(ports.units.callsOf('stop'), [])
  })

  void test('scopes an earlier run made that no machine claims are released; claimed ones are kept', async () => {
    const { ports, manager } = world()
    ports.state.files.set('kept', '# This is private data. Do not parse.\nNAME=kept\nSCOPE=machine-kept.scope\nLEADER=6000\nCLASS=container\n')
    ports.processes.spawn(6000)
    ports.units.place(6000, 'machine-kept.scope', '/machine.slice/machine-kept.scope')
    ports.units.leftovers = [
      { unit: 'machine-kept.scope', cgroup: '/machine.slice/machine-kept.scope' },
      { unit: 'machine-halfway.scope', cgroup: '/machine.slice/machine-halfway.scope' },
    ]
    await loadMachines(manager)
    assert.deepEqual(names(manager), ['.host', 'kept'])
    assert.deepEqual(ports.units.callsOf('release').map((c) => c.unit), ['machine-halfway.scope'])
  })

  void test('unit: links naming no machine are removed', async () => {
    const { ports, manager } = world()
    ports.state.links.set('machine-gone.scope', 'gone')
    ports.state.links.set('other.service', 'nobody')
    await loadMachines(manager)
    assert.equal(ports.state.links.size, 0)
  })

  void test('a file that fails to load does not stop the others', async () => {
    const { ports, manager } = world()
    ports.state.files.set('bad', '# This is private data. Do not parse.\nNAME=bad\nLEADER=6000\nCLASS=container\n')
    ports.state.files.set('good', '# This is private data. Do not parse.\nNAME=good\nLEADER=6001\nCLASS=container\n')
    ports.processes.spawn(6000)
    ports.processes.spawn(6001)
    let writes = 0
    const write = ports.state.write.bind(ports.state)
    ports.state.write = async (name, contents) => {
      if (writes++ === 0) throw new Error('EIO')
      return write(name, contents)
    }
    await loadMachines(manager)
    assert.deepEqual(names(manager), ['.host', 'good'])
    assert.ok(ports.log.messages('warn').includes('Failed to load machine state, ignoring'))
    assert.equal(ports.processes.heldCount, 1, 'the failed one let go of its leader')
  })
})
