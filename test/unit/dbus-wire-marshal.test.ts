// Every D-Bus type must survive marshal → unmarshal with the value mapping
// bus-connection.ts documents, with the alignment and padding the
// specification requires (checked against hand-computed bytes), and the
// marshaller must refuse values that would make a bus drop us.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidValueError } from '../../src/wire/dbus/errors.ts'
import { marshal } from '../../src/wire/dbus/marshal.ts'
import { unmarshal } from '../../src/wire/dbus/unmarshal.ts'
import { Variant } from '../../src/wire/dbus/variant.ts'

function roundTrip(signature: string, values: unknown[], fds?: number[]): unknown[] {
  const m = marshal(signature, values)
  return unmarshal(m.data, signature, { fds: fds ?? m.fds })
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

void describe('round trips', () => {
  const CASES: [string, unknown[], unknown[]?][] = [
    ['y', [0]], ['y', [255]],
    ['b', [true]], ['b', [false]],
    ['n', [-32768]], ['n', [32767]],
    ['q', [0]], ['q', [65535]],
    ['i', [-2147483648]], ['i', [2147483647]],
    ['u', [0]], ['u', [4294967295]],
    ['x', [-(2n ** 63n)]], ['x', [2n ** 63n - 1n]], ['x', [-5]], ['x', [Number.MAX_SAFE_INTEGER]],
    ['t', [0n]], ['t', [2n ** 64n - 1n]], ['t', [2 ** 40 + 3]],
    ['d', [0]], ['d', [-1.5]], ['d', [Infinity]], ['d', [Number.NaN]], ['d', [-0]], ['d', [1e-300]],
    ['s', ['']], ['s', ['plain']], ['s', ['h\u00e9llo \u65e5\u672c \u{1f600}']],
    ['o', ['/']], ['o', ['/org/freedesktop/machine1/machine/_31_2d']],
    ['g', ['']], ['g', ['a{sv}(iay)']],
    ['v', [new Variant('s', 'x')]], ['v', [new Variant('v', new Variant('ay', Buffer.from([1, 2])))]],
    ['ay', [Buffer.from([])]], ['ay', [Buffer.from([0, 1, 255])]],
    ['ai', [[]]], ['ai', [[1, -2, 3]]], ['as', [['a', '', 'c']]], ['ax', [[1n, -1n]]], ['aay', [[Buffer.from([1]), Buffer.from([])]]],
    ['a(ssso)', [[['m', 'container', 'nspawn', '/org/freedesktop/machine1/machine/m']]]],
    ['a{sv}', [{ a: new Variant('u', 1), b: new Variant('as', ['x']) }]],
    ['a{os}', [{ '/a': 'x' }]],
    ['a{ss}', [{}]],
    ['(yx)', [[1, 2n]]], ['((i)(s))', [[[1], ['x']]]],
    ['ya(x)', [7, []]],
    ['ssa(sv)a(sa(sv))', ['u', 'fail', [['PIDs', new Variant('au', [1])], ['TasksMax', new Variant('t', 5n)]], []]],
  ]
  for (const [sig, values, expected] of CASES) {
    void test(`${sig} ${JSON.stringify(values, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`, () => {
      const out = roundTrip(sig, values)
      const want = expected ?? values.map((v, i) => (sig[i] === 'x' || sig[i] === 't') && typeof v === 'number' ? BigInt(v) : v)
      if (sig.length === 1 && 'xt'.includes(sig)) assert.deepEqual(out, [BigInt(values[0] as number | bigint)])
      else assert.deepEqual(out, want)
    })
  }

  void test('a{..} with a non-string key comes back as a Map', () => {
    const m = new Map<number, string>([[1, 'a'], [-2, 'b']])
    assert.deepEqual(roundTrip('a{is}', [m]), [m])
    const b = new Map<bigint, boolean>([[2n ** 64n - 1n, true]])
    assert.deepEqual(roundTrip('a{tb}', [b]), [b])
  })

  void test('a{s..} may be sent as a Map too', () => {
    assert.deepEqual(roundTrip('a{ss}', [new Map([['k', 'v']])]), [{ k: 'v' }])
  })

  void test('a key named __proto__ stays an own property', () => {
    const [obj] = roundTrip('a{ss}', [new Map([['__proto__', 'x']])]) as [Record<string, unknown>]
    assert.equal(Object.getPrototypeOf(obj), Object.prototype)
    assert.ok(Object.hasOwn(obj, '__proto__'))
  })

  void test("'h' values are indexes into the message's fds, and come back as the fds received", () => {
    const m = marshal('hah', [7, [9, 7]])
    assert.deepEqual(m.fds, [7, 9, 7])
    // What arrives are other numbers: the receiver's own copies.
    assert.deepEqual(unmarshal(m.data, 'hah', { fds: [30, 31, 32] }), [30, [31, 32]])
  })

  void test('ay arrives as a Buffer of its own, not a view into the message', () => {
    const m = marshal('ay', [Buffer.from([1, 2, 3])])
    const [b] = unmarshal(m.data, 'ay') as [Buffer]
    assert.ok(Buffer.isBuffer(b))
    m.data.fill(0)
    assert.deepEqual([...b], [1, 2, 3])
  })

  void test('ay may be sent as number[]', () => {
    assert.deepEqual(roundTrip('ay', [[1, 2]]), [Buffer.from([1, 2])])
  })
})

void describe('bytes on the wire', () => {
  void test('basic types are little-endian and aligned to their size', () => {
    // y at 0, pad 1, n at 2, u at 4, pad 8..15? no: x aligns to 8 → at 8; d at 16.
    const { data } = marshal('ynux', [1, -2, 3, 4n])
    assert.equal(hex(data), '01' + '00' + 'feff' + '03000000' + '0400000000000000')
  })

  void test("an array's length does not count the padding before its first element", () => {
    assert.equal(hex(marshal('a(x)', [[]]).data), '00000000' + '00000000')
    assert.equal(hex(marshal('a(x)', [[[1n]]]).data), '08000000' + '00000000' + '0100000000000000')
    assert.equal(hex(marshal('ya(x)', [7, []]).data), '07000000' + '00000000')
  })

  void test('strings carry a length and a NUL; signatures a one-byte length', () => {
    assert.equal(hex(marshal('sg', ['ab', 'ai']).data), '02000000' + '616200' + '02' + '616900')
  })

  void test('booleans are 32-bit', () => {
    assert.equal(hex(marshal('yb', [1, true]).data), '01000000' + '01000000')
  })

  void test('a variant is its signature then its value, aligned to the value', () => {
    assert.equal(hex(marshal('v', [new Variant('t', 1n)]).data), '01' + '7400' + '0000000000' + '0100000000000000')
  })

  void test('dict entries are 8-aligned', () => {
    assert.equal(hex(marshal('a{yy}', [new Map([[1, 2], [3, 4]])]).data), '0a000000' + '00000000' + '0102' + '000000000000' + '0304')
  })
})

void describe('values the marshaller refuses', () => {
  const BAD: [string, unknown[]][] = [
    ['y', [256]], ['y', [-1]], ['y', [1.5]], ['y', ['1']],
    ['b', [1]], ['b', ['true']],
    ['n', [32768]], ['q', [-1]], ['i', [2 ** 31]], ['u', [-1]], ['u', [2 ** 32]], ['u', [2n ** 32n]],
    ['x', [2n ** 63n]], ['t', [-1n]], ['t', [-1]], ['t', [1.5]], ['x', ['1']],
    ['d', ['1']],
    ['s', [1]], ['s', ['a\0b']],
    ['o', ['']], ['o', ['a']], ['o', ['/a/']], ['o', ['//']], ['o', ['/a-b']],
    ['g', ['a']], ['g', [1]],
    ['h', [-1]],
    ['v', ['x']], ['v', [{ signature: 's', value: 'x' }]], ['v', [new Variant('ii', 1)]], ['v', [new Variant('s', 1)]],
    ['ai', [[1, 'x']]], ['ai', [{}]],
    ['(ii)', [[1]]], ['(ii)', [[1, 2, 3]]],
    ['a{is}', [{ 1: 'x' }]], ['a{ss}', [[]]],
    ['s', []], ['ss', ['a']],
  ]
  for (const [sig, values] of BAD) {
    void test(`${sig} ${String(values.length === 0 ? '(nothing)' : typeof values[0] === 'bigint' ? `${values[0]}n` : JSON.stringify(values[0]))}`, () => {
      assert.throws(() => marshal(sig, values), InvalidValueError)
    })
  }

  void test('an invalid signature', () => {
    assert.throws(() => marshal('a{vs}', [{}]), InvalidValueError)
  })

  void test('variants nested deeper than 64', () => {
    let v: unknown = 1
    for (let i = 0; i < 64; i++) v = new Variant('v', v)
    assert.throws(() => marshal('v', [new Variant('v', v)]), InvalidValueError)
    let ok: unknown = new Variant('y', 1)
    for (let i = 0; i < 62; i++) ok = new Variant('v', ok)
    assert.doesNotThrow(() => marshal('v', [ok]))
  })
})
