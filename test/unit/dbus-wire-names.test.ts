// The name grammars are hand-written loops for speed; they must agree with
// the specification's grammar, written here once more as regular
// expressions, on every string in a broad sample.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { isBusName, isInterfaceName, isMemberName, isObjectPath } from '../../src/wire/dbus/names.ts'

const EL = '[A-Za-z_][A-Za-z0-9_]*'
const REFERENCE = {
  path: /^\/(?:[A-Za-z0-9_]+(?:\/[A-Za-z0-9_]+)*)?$/,
  iface: new RegExp(`^${EL}(?:\\.${EL})+$`),
  member: new RegExp(`^${EL}$`),
  bus: /^(?::[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+|[A-Za-z_-][A-Za-z0-9_-]*(?:\.[A-Za-z_-][A-Za-z0-9_-]*)+)$/,
}

const SAMPLES = [
  '', '/', '//', '/a', '/a/', '/a/b', '/a//b', 'a', 'a.b', 'a..b', '.a.b', 'a.b.', 'a.1b', 'a.b1', '1a.b', '_a._b', 'a-b.c',
  ':1.42', ':1', ':1.', ':.1', ':a-b.c-d', 'org.freedesktop.machine1', 'org.freedesktop.DBus', 'Hello', 'Hello.World', 'héllo',
  'a b', 'a/b', '/org/freedesktop/machine1/machine/_31_2d', '/é', 'a.b-c', '-a.b', 'a.-b', 'x'.repeat(256), `a.${'b'.repeat(253)}`,
]

void describe('name grammars', () => {
  const alphabet = ['a', 'Z', '0', '_', '-', '.', '/', ':', 'é']
  const strings = [...SAMPLES]
  // Every string of up to 4 characters over a small alphabet that covers each rule.
  const grow = (prefix: string, depth: number): void => {
    if (depth === 0) return
    for (const c of alphabet) { strings.push(prefix + c); grow(prefix + c, depth - 1) }
  }
  grow('', 4)

  void test('object paths', () => { for (const s of strings) assert.equal(isObjectPath(s), REFERENCE.path.test(s), s) })
  void test('interface and error names', () => {
    for (const s of strings) assert.equal(isInterfaceName(s), s.length <= 255 && REFERENCE.iface.test(s), s)
  })
  void test('member names', () => {
    for (const s of strings) assert.equal(isMemberName(s), s.length <= 255 && REFERENCE.member.test(s), s)
  })
  void test('bus names', () => { for (const s of strings) assert.equal(isBusName(s), s.length <= 255 && REFERENCE.bus.test(s), s) })
})
