// When systemd is PID 1 the same Units port is served by PID 1 itself: the
// scope is started with StartTransientUnit and the properties
// systemd-machined sends (machine.c), killed with KillUnit(…, "all", …),
// stopped with StopUnit(…, "fail"), and let go with UnrefUnit. A stop of a
// unit that is already gone is not an error.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { SystemdUnits, type SystemdBus } from '../../src/backends/systemd-units.ts'
import { defaultScopeSettings } from '../../src/core/scope-properties.ts'
import type { Log } from '../../src/core/ports.ts'

interface Call { readonly member: string; readonly signature: string; readonly body: readonly unknown[] }

type Signal = Parameters<Parameters<SystemdBus['subscribe']>[1]>[0]

/**
 * PID 1 as far as the backend sees it. A started job ends with JobRemoved:
 * `job: 'before-reply'` sends it before the reply is handled (as a bus read
 * can deliver both at once), `'later'` once asked (`finishJobs()`), with
 * `jobResult` as its result.
 */
function fakeBus(fail: Partial<Record<string, { type: string; message: string }>> = {}, job: { when?: 'before-reply' | 'later'; result?: string } = {}): SystemdBus & { calls: Call[]; rules: string[]; finishJobs(): void } {
  const calls: Call[] = []
  const rules: string[] = []
  const listeners: ((s: Signal) => void)[] = []
  const queued: string[] = []
  const removed = (path: string): void => {
    for (const l of listeners) l({ path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager', member: 'JobRemoved', body: [1, path, 'machine-foo.scope', job.result ?? 'done'] })
  }
  return {
    calls, rules,
    async call(destination, path, iface, member, signature, body) {
      assert.equal(destination, 'org.freedesktop.systemd1')
      assert.equal(path, '/org/freedesktop/systemd1')
      assert.equal(iface, 'org.freedesktop.systemd1.Manager')
      calls.push({ member, signature, body })
      const f = fail[member]
      if (f !== undefined) throw Object.assign(new Error(f.message), { type: f.type })
      const jobPath = `/org/freedesktop/systemd1/job/${calls.length}`
      if (member === 'StartTransientUnit') {
        if (job.when === 'later') queued.push(jobPath)
        else removed(jobPath)
      }
      return [jobPath]
    },
    async callDriver() { return [true] },
    async subscribe(rule, callback) { rules.push(rule); listeners.push(callback) },
    finishJobs() { for (const p of queued.splice(0)) removed(p) },
  }
}

const quiet: Log = { debug() {}, info() {}, warn() {}, error() {} }
const layout = { kind: 'unified', unified: '/nonexistent-cgroup', systemdV1: undefined, pidsV1: undefined, devicesV1: undefined, memoryV1: undefined } as const
const variant = (signature: string, value: unknown): unknown => ({ signature, value })

void describe('SystemdUnits', () => {
  void test('createScope starts a transient scope with machined\'s properties, then the caller\'s', async () => {
    const bus = fakeBus()
    const units = new SystemdUnits({ bus, variant, log: quiet, layout })
    const settings = { ...defaultScopeSettings(), killSignal: 37, devicePolicy: 'closed' as const, deviceAllow: [{ specifier: 'char-pts', access: 'rw' }] }
    const ref = await units.createScope({ unit: 'machine-foo.scope', description: 'Container foo', leader: { pid: 4242, startTime: 1n }, settings })
    assert.deepEqual(ref, { unit: 'machine-foo.scope', cgroup: '/machine.slice/machine-foo.scope' })
    const [call] = bus.calls
    assert.equal(call?.member, 'StartTransientUnit')
    assert.equal(call?.signature, 'ssa(sv)a(sa(sv))')
    const [name, mode, props, aux] = call.body as [string, string, [string, { signature: string; value: unknown }][], unknown[]]
    assert.deepEqual([name, mode, aux], ['machine-foo.scope', 'fail', []])
    const byName = new Map(props.map(([k, v]) => [k, v]))
    assert.deepEqual(byName.get('Slice'), { signature: 's', value: 'machine.slice' })
    assert.deepEqual(byName.get('Description'), { signature: 's', value: 'Container foo' })
    assert.deepEqual(byName.get('PIDs'), { signature: 'au', value: [4242] })
    assert.deepEqual(byName.get('Delegate'), { signature: 'b', value: true })
    assert.deepEqual(byName.get('CollectMode'), { signature: 's', value: 'inactive-or-failed' })
    assert.deepEqual(byName.get('AddRef'), { signature: 'b', value: true })
    assert.deepEqual(byName.get('TasksMax'), { signature: 't', value: 16384n })
    assert.deepEqual(byName.get('KillSignal'), { signature: 'i', value: 37 })
    assert.deepEqual(byName.get('DevicePolicy'), { signature: 's', value: 'closed' })
    assert.deepEqual(byName.get('DeviceAllow'), { signature: 'a(ss)', value: [['char-pts', 'rw']] })
  })

  void test('createScope answers only once PID 1 removed the start job, and fails when the job did', async () => {
    const later = fakeBus({}, { when: 'later' })
    const units = new SystemdUnits({ bus: later, variant, log: quiet, layout })
    let answered = false
    const created = units.createScope({ unit: 'machine-foo.scope', description: 'Container foo', leader: { pid: 4242, startTime: 1n }, settings: defaultScopeSettings() })
      .then((ref) => { answered = true; return ref })
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(answered, false, 'answered before the job was done')
    assert.deepEqual(later.rules, ["type='signal',sender='org.freedesktop.systemd1',path='/org/freedesktop/systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'"])
    later.finishJobs()
    assert.equal((await created).unit, 'machine-foo.scope')
    const failing = new SystemdUnits({ bus: fakeBus({}, { result: 'failed' }), variant, log: quiet, layout })
    await assert.rejects(failing.createScope({ unit: 'machine-foo.scope', description: 'Container foo', leader: { pid: 4242, startTime: 1n }, settings: defaultScopeSettings() }),
      { code: 'FAILED', message: "Start job for unit machine-foo.scope failed with 'failed'" })
  })

  void test('kill, stop and release go to PID 1', async () => {
    const bus = fakeBus()
    const units = new SystemdUnits({ bus, variant, log: quiet, layout })
    const ref = { unit: 'machine-foo.scope', cgroup: '/machine.slice/machine-foo.scope' }
    await units.kill(ref, 9)
    await units.stop(ref)
    await units.release(ref)
    assert.deepEqual(bus.calls.map((c) => [c.member, c.body]), [
      ['KillUnit', ['machine-foo.scope', 'all', 9]],
      ['StopUnit', ['machine-foo.scope', 'fail']],
      ['UnrefUnit', ['machine-foo.scope']],
    ])
  })

  void test('stopping a unit that is gone is fine; other failures are reported', async () => {
    const gone = new SystemdUnits({ bus: fakeBus({ StopUnit: { type: 'org.freedesktop.systemd1.NoSuchUnit', message: 'Unit machine-foo.scope not loaded.' } }), variant, log: quiet, layout })
    await gone.stop({ unit: 'machine-foo.scope', cgroup: '/x' })
    const broken = new SystemdUnits({ bus: fakeBus({ StartTransientUnit: { type: 'org.freedesktop.systemd1.UnitExists', message: 'Unit machine-foo.scope already exists.' } }), variant, log: quiet, layout })
    await assert.rejects(
      broken.createScope({ unit: 'machine-foo.scope', description: 'Container foo', leader: { pid: 1, startTime: 1n }, settings: defaultScopeSettings() }),
      /Failed to start machine scope machine-foo\.scope: Unit machine-foo\.scope already exists\./,
    )
  })
})
