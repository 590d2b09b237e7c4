// Object paths of machines: bus_label_escape() / sd_bus_path_encode()
// (systemd-src §7). Clients build these paths themselves, so every name must
// map to exactly the label systemd would use, and back.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { MACHINE_PATH_PREFIX, busLabelEscape, busLabelUnescape, machineObjectPath } from '../../src/protocol/bus-path.ts'

const EXAMPLES: [string, string][] = [
  ['foo', 'foo'],
  ['golden', 'golden'],
  ['foo-bar', 'foo_2dbar'],
  ['a.b', 'a_2eb'],
  ['x_y', 'x_5fy'],
  ['1a', '_31a'],
  ['9lives', '_39lives'],
  ['a9', 'a9'],
  ['.host', '_2ehost'],
  ['a-b.c', 'a_2db_2ec'],
  ['a-much-longer-machine-name', 'a_2dmuch_2dlonger_2dmachine_2dname'],
  ['\u00fc', '_c3_bc'],
  ['', '_'],
]

void describe('busLabelEscape', () => {
  for (const [name, label] of EXAMPLES) {
    void test(`${JSON.stringify(name)} → ${label}`, () => assert.equal(busLabelEscape(name), label))
  }

  void test('hex is lower-case', () => {
    assert.equal(busLabelEscape('\u00ff'), '_c3_bf')
  })
})

void describe('busLabelUnescape', () => {
  for (const [name, label] of EXAMPLES) {
    void test(`${label} → ${JSON.stringify(name)}`, () => assert.equal(busLabelUnescape(label), name))
  }

  void test('accepts upper-case hex', () => {
    assert.equal(busLabelUnescape('_2Ehost'), '.host')
    assert.equal(busLabelUnescape('foo_2Dbar'), 'foo-bar')
  })

  void test('a leading digit written bare still decodes', () => {
    assert.equal(busLabelUnescape('9lives'), '9lives')
  })

  void test('refuses labels it could not have written', () => {
    assert.equal(busLabelUnescape('foo_zz'), undefined)
    assert.equal(busLabelUnescape('foo_2'), undefined)
    assert.equal(busLabelUnescape('a-b'), undefined)
    // _ff alone is not UTF-8.
    assert.equal(busLabelUnescape('_ff'), undefined)
  })

  void test('round trips arbitrary text, including UTF-8 of every length', () => {
    for (const s of ['a', 'A-Z_0.9', '\u00e9t\u00e9', '\u65e5\u672c', '\u{1f600}x', ' !"#$%&\'()*+,-./', '_', '__', '0']) {
      const label = busLabelEscape(s)
      assert.match(label, /^[A-Za-z0-9_]+$/)
      assert.equal(busLabelUnescape(label), s)
    }
  })
})

void describe('machineObjectPath', () => {
  void test('prefix + "/" + label', () => {
    assert.equal(MACHINE_PATH_PREFIX, '/org/freedesktop/machine1/machine')
    assert.equal(machineObjectPath('golden'), '/org/freedesktop/machine1/machine/golden')
    assert.equal(machineObjectPath('.host'), '/org/freedesktop/machine1/machine/_2ehost')
    assert.equal(machineObjectPath('a-b.c'), '/org/freedesktop/machine1/machine/a_2db_2ec')
  })
})
