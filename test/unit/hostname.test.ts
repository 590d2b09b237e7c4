// Machine names: exactly the names systemd 252's hostname_is_valid(name, 0)
// accepts may be registered, so clients see the same "Invalid machine name"
// answers (golden capture 03, systemd-src §5). `.host` is never registrable.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { HOST_NAME_MAX, hostnameIsValid, machineNameIsValid } from '../../src/protocol/hostname.ts'

const VALID = [
  'a'.repeat(64), 'FOO', 'foo.bar', 'a-b.c-d', '0', '1.2.3.4',
  'foo', 'foo-bar', 'a--b', '9abc', 'F00', 'golden', 'a.b.c.d.e',
]

const INVALID: [string, string][] = [
  ['a'.repeat(65), '65 characters'],
  ['foo.', 'trailing dot'],
  ['x'.repeat(63) + '.', 'trailing dot at 64 characters'],
  ['.foo', 'leading dot'],
  ['foo..bar', 'empty label'],
  ['-foo', 'leading hyphen'],
  ['foo-', 'trailing hyphen'],
  ['foo-.bar', 'label ending in a hyphen'],
  ['foo.-bar', 'label starting with a hyphen'],
  ['\u00fc', 'non-ASCII'],
  ['a b', 'space'],
  ['', 'empty'],
  ['.host', 'the reserved host name'],
  ['foo_bar', 'underscore (systemd#27481)'],
  ['foo/bar', 'slash'],
  ['foo\tbar', 'tab'],
  ['.', 'a lone dot'],
  ['-', 'a lone hyphen'],
  ['foo?', 'question mark'],
  ['$foo', 'dollar'],
]

void describe('hostnameIsValid', () => {
  for (const name of VALID) {
    void test(`accepts ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name)}`, () => {
      assert.equal(hostnameIsValid(name), true)
      assert.equal(machineNameIsValid(name), true)
    })
  }

  for (const [name, why] of INVALID) {
    void test(`refuses ${why}`, () => {
      assert.equal(hostnameIsValid(name), false)
      assert.equal(machineNameIsValid(name), false)
    })
  }

  void test('HOST_NAME_MAX is 64 and is the boundary', () => {
    assert.equal(HOST_NAME_MAX, 64)
    assert.equal(hostnameIsValid('a.'.repeat(31) + 'bc'), true) // 64 with dots
    assert.equal(hostnameIsValid('a.'.repeat(32) + 'b'), false) // 65 with dots
  })

  void test('.host is valid only when the caller allows it', () => {
    assert.equal(hostnameIsValid('.host', { allowDotHost: true }), true)
    assert.equal(hostnameIsValid('.host', { allowDotHost: false }), false)
    assert.equal(hostnameIsValid('.host'), false)
    // The flag admits exactly ".host", not other leading-dot names.
    assert.equal(hostnameIsValid('.hostx', { allowDotHost: true }), false)
    assert.equal(hostnameIsValid('.foo', { allowDotHost: true }), false)
  })

  void test('case is kept, not folded', () => {
    assert.equal(hostnameIsValid('Foo'), true)
    assert.equal(hostnameIsValid('FOO-bar.BAZ'), true)
  })
})
