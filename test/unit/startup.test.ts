// Loading the registry at start-up (startup.ts) against fake ports: a
// machine systemd 252 saved whose leader still runs in its scope is
// restored; a recycled PID, a dead leader, a leader in another unit, a file
// without a usable class are dropped with their files; a corrupt file stops
// nothing.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { loadMachines } from '../../src/core/startup.ts'
import type { Caller } from '../../src/core/authorization.ts'
import { fixture, names, settle, world } from '../helpers/manager-fixtures.ts'

const ROOT: Caller = { uid: 0, pid: 999 }

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

  void test('a link taken over by a machine loaded earlier stays when the stale machine it named is dropped', async () => {
    const { ports, manager } = world()
    // "b" runs in the scope the link still names "a" for; "a" is stale. "b" is loaded first and takes the link.
    ports.state.files.set('b', stateFile('b', ['UNIT=shared.scope', 'LEADER=6010', 'CLASS=container']))
    ports.state.files.set('a', stateFile('a', ['UNIT=shared.scope', 'LEADER=6011', 'CLASS=container']))
    ports.state.links.set('shared.scope', 'a')
    ports.state.links.set('orphan.scope', 'nobody')
    ports.processes.spawn(6010)
    ports.units.place(6010, 'shared.scope')
    await loadMachines(manager)
    assert.deepEqual(names(manager), ['.host', 'b'])
    assert.equal(ports.state.files.has('a'), false)
    assert.deepEqual([...ports.state.links], [['shared.scope', 'b']])
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

  void test('a unit read ahead is trusted only for a leader proven to be the one on file', async () => {
    const { ports, manager } = world()
    // Past the first chunk, leaders' units come from a read ahead (unitsOfPids). Here it reports what the
    // PIDs named earlier: every leader still in its machine's scope, although two have moved since.
    for (let i = 0; i < 1000; i++) {
      ports.state.files.set(`m${i}`, stateFile(`m${i}`, ['SCOPE=machine-m.scope', `LEADER=${10_000 + i}`, 'CLASS=container', 'LEADER_STARTTIME=7']))
      ports.processes.spawn(10_000 + i, { startTime: 7n })
      ports.units.place(10_000 + i, 'machine-m.scope')
    }
    ports.state.files.set('proven', stateFile('proven', ['SCOPE=machine-proven.scope', 'LEADER=20000', 'CLASS=container', 'LEADER_STARTTIME=7']))
    ports.state.files.set('unproven', stateFile('unproven', ['SCOPE=machine-unproven.scope', 'LEADER=20001', 'CLASS=container']))
    for (const pid of [20_000, 20_001]) {
      ports.processes.spawn(pid, { startTime: 7n })
      ports.units.place(pid, 'elsewhere.service')
    }
    const asked: number[][] = []
    ports.units.unitsOfPids = async (pids) => {
      asked.push([...pids])
      return new Map([[20_000, { unit: 'machine-proven.scope', cgroup: '/machine.slice/machine-proven.scope' }], [20_001, { unit: 'machine-unproven.scope', cgroup: '/machine.slice/machine-unproven.scope' }]])
    }
    await loadMachines(manager)
    assert.deepEqual(asked, [[20_000, 20_001]], 'one read ahead, for the second chunk')
    // Its start time on file proves "proven" ran across the read, so the read ahead is its unit;
    // "unproven" has nothing on file to compare, so its unit is read again, and it has moved.
    assert.deepEqual(names(manager).filter((n) => !n.startsWith('m')), ['.host', 'proven'])
    assert.equal(manager.get('proven').unit?.unit, 'machine-proven.scope')
    assert.equal(ports.state.files.has('unproven'), false)
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

