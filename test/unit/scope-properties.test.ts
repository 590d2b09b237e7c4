// CreateMachine's scope_properties: machined's own defaults (machine.slice,
// TasksMax=16384, machine_start_scope) overridden by what the caller sends,
// with the exact properties systemd-nspawn 252 sends accepted, and anything
// else refused with the words systemd's PID 1 uses.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidArgsError } from '../../src/protocol/errors.ts'
import { MACHINE_SCOPE_TASKS_MAX, defaultScopeSettings, parseScopeProperties, type ScopeProperty } from '../../src/core/scope-properties.ts'

function prop(name: string, signature: string, value: unknown): ScopeProperty {
  return { name, signature, value }
}

/** nspawn-register.c (v252): append_machine_properties + append_controller_property, with kill_signal = SIGRTMIN+3. */
const NSPAWN_PROPERTIES = [
  prop('Controller', 's', ':1.42'),
  prop('DevicePolicy', 's', 'closed'),
  prop('DeviceAllow', 'a(ss)', [['/dev/net/tun', 'rwm'], ['char-pts', 'rw']]),
  prop('KillSignal', 'i', 37),
  prop('KillMode', 's', 'mixed'),
]

void describe('defaults', () => {
  void test('machine.slice, TasksMax 16384, SIGTERM to the whole cgroup', () => {
    const d = parseScopeProperties([])
    assert.equal(d.slice, 'machine.slice')
    assert.equal(d.tasksMax, 16384n)
    assert.equal(MACHINE_SCOPE_TASKS_MAX, 16384n)
    assert.equal(d.killSignal, 15)
    assert.equal(d.killMode, 'control-group')
    assert.equal(d.sendSigkill, true)
    assert.equal(d.sendSighup, false)
    assert.equal(d.finalKillSignal, 9)
    assert.equal(d.timeoutStopUsec, 90_000_000)
    assert.equal(d.devicePolicy, 'auto')
    assert.deepEqual(d.deviceAllow, [])
    assert.equal(d.controller, undefined)
    assert.equal(d.description, undefined)
    assert.equal(d.memoryMax, undefined)
    assert.deepEqual(d.unenforced, [])
    assert.deepEqual(d, defaultScopeSettings())
  })

  void test('each call gets its own settings object', () => {
    const a = defaultScopeSettings()
    a.deviceAllow.push({ specifier: '/dev/null', access: 'rwm' })
    assert.deepEqual(defaultScopeSettings().deviceAllow, [])
  })
})

void describe('what systemd-nspawn sends', () => {
  void test('is accepted and applied', () => {
    const s = parseScopeProperties(NSPAWN_PROPERTIES)
    assert.equal(s.controller, ':1.42')
    assert.equal(s.devicePolicy, 'closed')
    assert.deepEqual(s.deviceAllow, [{ specifier: '/dev/net/tun', access: 'rwm' }, { specifier: 'char-pts', access: 'rw' }])
    assert.equal(s.killSignal, 37)
    assert.equal(s.killMode, 'mixed')
    // Untouched defaults stay.
    assert.equal(s.slice, 'machine.slice')
    assert.equal(s.tasksMax, 16384n)
  })

  void test('a second DeviceAllow (a bound device node) appends', () => {
    const s = parseScopeProperties([...NSPAWN_PROPERTIES, prop('DeviceAllow', 'a(ss)', [['/dev/fuse', 'r']])])
    assert.deepEqual(s.deviceAllow.map((r) => r.specifier), ['/dev/net/tun', 'char-pts', '/dev/fuse'])
  })

  void test('an empty DeviceAllow resets the list; an empty access means rwm', () => {
    assert.deepEqual(parseScopeProperties([...NSPAWN_PROPERTIES, prop('DeviceAllow', 'a(ss)', [])]).deviceAllow, [])
    assert.deepEqual(parseScopeProperties([prop('DeviceAllow', 'a(ss)', [['block-loop', '']])]).deviceAllow,
      [{ specifier: 'block-loop', access: 'rwm' }])
  })
})

void describe('overrides', () => {
  void test('the caller wins over machined\'s defaults', () => {
    const s = parseScopeProperties([
      prop('Slice', 's', 'machine-special.slice'), prop('TasksMax', 't', 100n), prop('Description', 's', 'My box'),
      prop('MemoryMax', 't', 1073741824n), prop('SendSIGKILL', 'b', false), prop('TimeoutStopUSec', 't', 5_000_000n),
    ])
    assert.equal(s.slice, 'machine-special.slice')
    assert.equal(s.tasksMax, 100n)
    assert.equal(s.description, 'My box')
    assert.equal(s.memoryMax, 1073741824n)
    assert.equal(s.sendSigkill, false)
    assert.equal(s.timeoutStopUsec, 5_000_000)
  })

  void test('TasksMax=infinity (UINT64_MAX) means no limit', () => {
    assert.equal(parseScopeProperties([prop('TasksMax', 't', 0xffff_ffff_ffff_ffffn)]).tasksMax, undefined)
  })

  void test('the kill settings a user sees: SendSIGHUP, FinalKillSignal', () => {
    const s = parseScopeProperties([prop('SendSIGHUP', 'b', true), prop('FinalKillSignal', 'i', 10)])
    assert.equal(s.sendSighup, true)
    assert.equal(s.finalKillSignal, 10)
    assert.deepEqual(s.unenforced, [])
  })

  void test('service-manager-only properties are accepted and kept as sent, in order, for a service manager to get', () => {
    const sent = [
      prop('Delegate', 'b', true), prop('After', 'as', ['x.service']), prop('Delegate', 'b', false), prop('CPUWeight', 't', 100n),
      prop('RestartKillSignal', 'i', 1), prop('WatchdogSignal', 'i', 6),
    ]
    assert.deepEqual(parseScopeProperties(sent).unenforced, sent)
  })
})

void describe('refusals', () => {
  function refuses(properties: ScopeProperty[], message: string, parameter: string): void {
    assert.throws(() => parseScopeProperties(properties), (err: unknown) => {
      assert.ok(err instanceof InvalidArgsError)
      assert.equal(err.code, 'INVALID_ARGS')
      assert.equal(err.message, message)
      assert.equal(err.parameter, parameter)
      return true
    })
  }

  void test('an unknown property, in PID 1\'s words', () => {
    refuses([prop('Bogus', 's', 'x')], 'Cannot set property Bogus, or unknown property.', 'Bogus')
  })

  void test('names inherited from Object.prototype are unknown too', () => {
    refuses([prop('toString', 's', 'x')], 'Cannot set property toString, or unknown property.', 'toString')
    refuses([prop('__proto__', 's', 'x')], 'Cannot set property __proto__, or unknown property.', '__proto__')
  })

  void test('a wrong D-Bus signature', () => {
    refuses([prop('TasksMax', 's', '100')], "Invalid type 's' for property TasksMax, expecting 't'", 'TasksMax')
    refuses([prop('KillSignal', 'u', 37)], "Invalid type 'u' for property KillSignal, expecting 'i'", 'KillSignal')
    refuses([prop('DeviceAllow', 'as', ['/dev/null'])], "Invalid type 'as' for property DeviceAllow, expecting 'a(ss)'", 'DeviceAllow')
  })

  void test('the first bad property is the one reported', () => {
    refuses([prop('Bogus', 's', 'x'), prop('TasksMax', 's', '1')], 'Cannot set property Bogus, or unknown property.', 'Bogus')
  })

  const badValues: [ScopeProperty, string][] = [
    [prop('Slice', 's', 'not-a-slice'), 'Slice'],
    [prop('Slice', 's', 'a--b.slice'), 'Slice'],
    [prop('DevicePolicy', 's', 'open'), 'DevicePolicy'],
    [prop('KillMode', 's', 'everything'), 'KillMode'],
    [prop('KillSignal', 'i', 0), 'KillSignal'],
    [prop('KillSignal', 'i', 65), 'KillSignal'],
    [prop('FinalKillSignal', 'i', 0), 'FinalKillSignal'],
    [prop('RestartKillSignal', 'i', 99), 'RestartKillSignal'],
    [prop('WatchdogSignal', 'i', -1), 'WatchdogSignal'],
    [prop('TasksMax', 't', -1), 'TasksMax'],
    [prop('DeviceAllow', 'a(ss)', [['/dev/null', 'rwx']]), 'DeviceAllow'],
    [prop('DeviceAllow', 'a(ss)', [['null', 'r']]), 'DeviceAllow'],
    [prop('DeviceAllow', 'a(ss)', [['/dev/null']]), 'DeviceAllow'],
  ]
  for (const [p, name] of badValues) {
    void test(`a bad value: ${name}=${JSON.stringify(p.value)}`, () => refuses([p], `Invalid value for property ${name}`, name))
  }
})
