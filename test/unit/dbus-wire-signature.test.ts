// Signatures decide how every byte is read, so the parser must take every
// valid signature and refuse every invalid one the specification names
// (unknown codes, empty structs, stray dict entries, nesting limits).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { isValidSignature, parseSignature, parseSingleType } from '../../src/wire/dbus/signature.ts'

void describe('parseSignature', () => {
  const VALID = ['', 'y', 'bnqiuxtdsogh', 'v', 'ay', 'a{sv}', 'a{oa{sa{sv}}}', '(i)', '(ia(sv)as)', 'aai', 'a(ssso)', 'ssa(sv)a(sa(sv))', 'a{ys}', 'a{hv}']
  for (const sig of VALID) {
    void test(`accepts ${JSON.stringify(sig)}`, () => {
      const r = parseSignature(sig)
      assert.ok('types' in r, JSON.stringify(r))
      assert.equal(r.types.map((t) => t.signature).join(''), sig)
    })
  }

  const INVALID: [string, string][] = [
    ['unknown code', 'z'],
    ['empty struct', '()'],
    ['unclosed struct', '(i'],
    ['stray )', 'i)'],
    ['array without element', 'a'],
    ['dict entry outside an array', '{sv}'],
    ['dict entry with one type', 'a{s}'],
    ['dict entry with three types', 'a{sss}'],
    ['dict entry with a container key', 'a{(i)s}'],
    ['dict entry with a variant key', 'a{vs}'],
    ['unclosed dict entry', 'a{sv'],
    ['33 nested arrays', `${'a'.repeat(33)}y`],
    ['33 nested structs', `${'('.repeat(33)}y${')'.repeat(33)}`],
    ['33 nested dict entries and structs', `${'a{s('.repeat(17)}y${')}'.repeat(17)}`],
    ['256 bytes', 'y'.repeat(256)],
    ['a NUL', 'y\0'],
  ]
  for (const [why, sig] of INVALID) {
    void test(`refuses ${why}`, () => {
      assert.equal(isValidSignature(sig), false)
    })
  }

  void test('allows the limits themselves: 32 arrays, 32 structs, 255 bytes', () => {
    assert.ok(isValidSignature(`${'a'.repeat(32)}y`))
    assert.ok(isValidSignature(`${'('.repeat(32)}y${')'.repeat(32)}`))
    assert.ok(isValidSignature('y'.repeat(255)))
  })
})

void describe('parseSingleType', () => {
  void test('wants exactly one complete type', () => {
    assert.equal(typeof parseSingleType('a{sv}'), 'object')
    assert.equal(typeof parseSingleType(''), 'string')
    assert.equal(typeof parseSingleType('ii'), 'string')
  })

  void test('gives alignments from the specification', () => {
    const align = (s: string): number => (parseSingleType(s) as { alignment: number }).alignment
    assert.deepEqual(['y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 's', 'o', 'g', 'h', 'v', 'ay', '(y)'].map(align), [1, 4, 2, 2, 4, 4, 8, 8, 8, 4, 4, 1, 4, 1, 4, 8])
  })
})
