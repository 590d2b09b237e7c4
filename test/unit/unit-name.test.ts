// Unit names and cgroup paths as systemd builds them (unit-name.c,
// cg_slice_to_path, cg_pid_get_unit; systemd-src §6): the scope we create
// must carry the very name systemd-machined would give it, and a PID must
// resolve to the same unit systemd would report.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  MACHINE_SLICE, machineScopeName, sliceCgroupPath, sliceNameIsValid, unitFromCgroupPath, unitNameEscape,
} from '../../src/protocol/unit-name.ts'

void describe('unitNameEscape', () => {
  const cases: [string, string][] = [
    ['foo', 'foo'],
    ['my-vm.lan', 'my\\x2dvm.lan'],
    ['.foo', '\\x2efoo'],
    ['a.b.', 'a.b.'], // only a leading dot is escaped
    ['a/b/c', 'a-b-c'],
    ['\u00fc', '\\xc3\\xbc'],
    ['\u20ac', '\\xe2\\x82\\xac'],
    ['a b', 'a\\x20b'],
    ['a\\b', 'a\\x5cb'],
    ['x@y', 'x\\x40y'],
    ['keep:_.09AZaz', 'keep:_.09AZaz'],
    ['A-', 'A\\x2d'],
  ]
  for (const [input, expected] of cases) {
    void test(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(unitNameEscape(input), expected))
  }

  void test('escapes use lower-case hex', () => {
    assert.equal(unitNameEscape('\u00ff'), '\\xc3\\xbf')
    assert.doesNotMatch(unitNameEscape('-\u00ea\u00ff'), /[A-F]/)
  })
})

void describe('machineScopeName', () => {
  void test('machine-<escaped>.scope', () => {
    assert.equal(machineScopeName('foo'), 'machine-foo.scope')
    assert.equal(machineScopeName('my-vm.lan'), 'machine-my\\x2dvm.lan.scope')
    assert.equal(machineScopeName('golden'), 'machine-golden.scope')
  })
})

void describe('sliceCgroupPath', () => {
  void test('nests each dash prefix as its own slice', () => {
    assert.equal(sliceCgroupPath('a-b-c.slice'), 'a.slice/a-b.slice/a-b-c.slice')
    assert.equal(sliceCgroupPath('user-1000.slice'), 'user.slice/user-1000.slice')
  })
  void test('a top-level slice is one component', () => {
    assert.equal(sliceCgroupPath(MACHINE_SLICE), 'machine.slice')
    assert.equal(MACHINE_SLICE, 'machine.slice')
  })
  void test('-.slice is the root', () => {
    assert.equal(sliceCgroupPath('-.slice'), '')
  })
})

void describe('sliceNameIsValid', () => {
  for (const s of ['machine.slice', '-.slice', 'a-b-c.slice', 'user-1000.slice', 'x:y_z.slice']) {
    void test(`accepts ${s}`, () => assert.equal(sliceNameIsValid(s), true))
  }
  const invalid: [string, string][] = [
    ['-a.slice', 'leading dash'],
    ['a-.slice', 'trailing dash'],
    ['a--b.slice', 'double dash'],
    ['.slice', 'empty prefix'],
    ['foo.scope', 'not a slice'],
    ['foo', 'no suffix'],
    ['a b.slice', 'space'],
    ['a@b.slice', 'instance'],
    ['a/b.slice', 'slash'],
    [`${'a'.repeat(250)}.slice`, 'longer than 255 characters'],
  ]
  for (const [s, why] of invalid) {
    void test(`refuses ${why}`, () => assert.equal(sliceNameIsValid(s), false))
  }
  void test('255 characters is still a valid length', () => {
    assert.equal(sliceNameIsValid(`${'a'.repeat(249)}.slice`), true)
  })
})

void describe('unitFromCgroupPath', () => {
  const found: [string, string][] = [
    ['/machine.slice/machine-foo.scope/payload/x', 'machine-foo.scope'],
    ['/machine.slice/machine-foo.scope', 'machine-foo.scope'],
    ['/user.slice/user-1000.slice/session-2.scope', 'session-2.scope'],
    ['/init.scope', 'init.scope'],
    ['/system.slice/probe-svc.service', 'probe-svc.service'],
    ['/system.slice/systemd-nspawn@foo.service/payload', 'systemd-nspawn@foo.service'],
    ['/machine.slice/machine-my\\x2dvm.lan.scope', 'machine-my\\x2dvm.lan.scope'],
  ]
  for (const [path, unit] of found) {
    void test(`${path} → ${unit}`, () => assert.equal(unitFromCgroupPath(path), unit))
  }

  const none: [string, string][] = [
    ['/', 'the root cgroup'],
    ['', 'an empty path'],
    ['/machine.slice', 'a process directly in a slice'],
    ['/user.slice/user-1000.slice', 'nested slices only'],
    ['/machine.slice/probe-noscope', 'a directory that is not a unit'],
    ['/machine.slice/.scope', 'a bare suffix'],
  ]
  for (const [path, why] of none) {
    void test(`undefined for ${why}`, () => assert.equal(unitFromCgroupPath(path), undefined))
  }

  void test('a component that is not a valid unit name is not a unit (cg_pid_get_unit → ENXIO)', () => {
    assert.equal(unitFromCgroupPath('/machine.slice/foo bar.scope'), undefined)
  })
})
