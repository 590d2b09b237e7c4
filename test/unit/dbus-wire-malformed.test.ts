// A peer's bytes are not trusted: every way a message can break the
// specification must end in a MalformedMessageError with a fitting code,
// and nothing else may be thrown, whatever the bytes (the fuzz loop at the
// end). The connection closes on these errors instead of crashing.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { MalformedMessageError, type MalformedCode } from '../../src/wire/dbus/errors.ts'
import { MessageFramer } from '../../src/wire/dbus/framer.ts'
import { marshal } from '../../src/wire/dbus/marshal.ts'
import { decodeMessage, encodeStandalone, methodCall, methodReturn, signal } from '../../src/wire/dbus/message.ts'
import { unmarshal } from '../../src/wire/dbus/unmarshal.ts'
import { Variant } from '../../src/wire/dbus/variant.ts'
import { prng } from '../helpers/fuzz.ts'

function rejects(code: MalformedCode, f: () => unknown): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof MalformedMessageError, `expected MalformedMessageError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    return true
  })
}

const body = (h: string): Buffer => Buffer.from(h.replace(/\s/g, ''), 'hex')

void describe('bodies', () => {
  void test('truncated anywhere', () => {
    const { data } = marshal('sa{sv}(xay)', ['hello', { a: new Variant('s', 'b') }, [1n, Buffer.from([1, 2, 3])]])
    for (let n = 0; n < data.length; n++) {
      assert.throws(() => unmarshal(data.subarray(0, n), 'sa{sv}(xay)'), MalformedMessageError, `cut at ${n}`)
    }
  })

  void test('non-zero padding', () => {
    rejects('BAD_PADDING', () => unmarshal(body('01 00 01 00 05000000'), 'yu'))
    // Padding before an empty array's first (absent) element counts too.
    rejects('BAD_PADDING', () => unmarshal(body('00000000 01000000'), 'a(x)'))
  })

  void test('bad UTF-8', () => {
    rejects('BAD_UTF8', () => unmarshal(body('02000000 c328 00'), 's')) // a lead byte without its continuation
    rejects('BAD_UTF8', () => unmarshal(body('02000000 c080 00'), 's')) // overlong NUL
    rejects('BAD_UTF8', () => unmarshal(body('03000000 eda080 00'), 's')) // a surrogate
    rejects('BAD_UTF8', () => unmarshal(body('04000000 f4908080 00'), 's')) // past U+10FFFF
    rejects('BAD_UTF8', () => unmarshal(body('01000000 ff 00'), 's'))
  })

  void test('NUL inside a string, or no NUL after it', () => {
    rejects('BAD_STRING', () => unmarshal(body('03000000 610062 00'), 's'))
    rejects('BAD_STRING', () => unmarshal(body('03000000 c3a900 00'), 's'))
    rejects('BAD_STRING', () => unmarshal(body('01000000 61 61'), 's'))
  })

  void test('bad object paths', () => {
    for (const p of ['', 'a', '/a/', '//', '/a//b', '/a-b', '/\u00e9']) {
      const raw = Buffer.from(p, 'utf8')
      const b = Buffer.concat([Buffer.from([raw.length, 0, 0, 0]), raw, Buffer.from([0])])
      rejects('BAD_OBJECT_PATH', () => unmarshal(b, 'o'))
    }
  })

  void test('bad signatures, in a g value and in a variant', () => {
    rejects('BAD_SIGNATURE', () => unmarshal(body('02 287d 00'), 'g')) // "(}"
    rejects('BAD_SIGNATURE', () => unmarshal(body('01 7a 00'), 'g')) // "z"
    rejects('BAD_SIGNATURE', () => unmarshal(body('02 6969 00 00000000 00000000'), 'v')) // "ii": not one type
    rejects('BAD_SIGNATURE', () => unmarshal(body('00 00'), 'v')) // empty
  })

  void test('booleans other than 0 and 1', () => {
    rejects('BAD_BOOLEAN', () => unmarshal(body('02000000'), 'b'))
  })

  void test('an fd index without its fd', () => {
    rejects('BAD_FD', () => unmarshal(body('00000000'), 'h'))
    rejects('BAD_FD', () => unmarshal(body('01000000'), 'h', { fds: [5] }))
  })

  void test('containers nested deeper than 64', () => {
    const nested = (depth: number): Buffer => {
      // depth variants, each with signature "v", then one holding a byte.
      const parts: number[] = []
      for (let i = 0; i < depth - 1; i++) parts.push(1, 0x76, 0)
      parts.push(1, 0x79, 0, 42)
      return Buffer.from(parts)
    }
    assert.doesNotThrow(() => unmarshal(nested(64), 'v'))
    rejects('TOO_DEEP', () => unmarshal(nested(65), 'v'))
    // 32 arrays of arrays of a variant holding 32 more levels: 65 in all.
    const sig = `${'a'.repeat(32)}v`
    const m = marshal(sig, [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])
    assert.doesNotThrow(() => unmarshal(m.data, sig))
  })

  void test('signatures nested past the limits', () => {
    rejects('BAD_SIGNATURE', () => unmarshal(Buffer.alloc(0), `${'a'.repeat(33)}y`))
  })

  void test('huge lengths', () => {
    rejects('TOO_LONG', () => unmarshal(body('01000004'), 'ay')) // 64 MiB + 1
    rejects('TRUNCATED', () => unmarshal(body('00000004'), 'ay')) // exactly 64 MiB, but not there
    rejects('TRUNCATED', () => unmarshal(body('ffffffff 00'), 's'))
    rejects('TRUNCATED', () => unmarshal(body('ff 00'), 'g'))
  })

  void test('array contents that overrun the array', () => {
    // Length 2, but the element is a u32.
    rejects('TRUNCATED', () => unmarshal(body('02000000 01000000'), 'au'))
    // Length 5: one u32 and a stray byte.
    rejects('TRUNCATED', () => unmarshal(body('05000000 01000000 00 000000'), 'auy'))
  })

  void test('bytes after the last value', () => {
    rejects('TRAILING_BYTES', () => unmarshal(body('01 00'), 'y'))
  })
})

void describe('headers', () => {
  const good = encodeStandalone(methodCall({ path: '/a', interface: 'a.b', member: 'M', destination: ':1.1', signature: 's', body: ['x'] }), 5).data
  const decode = (b: Buffer): unknown => decodeMessage(b, 0, b.length, [])
  const patched = (at: number, bytes: number[]): Buffer => {
    const b = Buffer.from(good)
    Buffer.from(bytes).copy(b, at)
    return b
  }

  void test('the unpatched message is fine', () => {
    assert.doesNotThrow(() => decode(good))
  })

  void test('endianness and version', () => {
    rejects('BAD_ENDIAN', () => decode(patched(0, [0x58])))
    rejects('BAD_VERSION', () => decode(patched(3, [2])))
  })

  void test('serial 0 and type 0', () => {
    rejects('BAD_HEADER', () => decode(patched(8, [0])))
    rejects('BAD_HEADER', () => decode(patched(1, [0])))
  })

  void test('a field with the wrong type', () => {
    // PATH (at 16) as 's' instead of 'o'.
    rejects('BAD_HEADER', () => decode(patched(18, [0x73])))
  })

  void test('a repeated field', () => {
    // The INTERFACE field turned into a second PATH-coded field of type 's' fails on type; make it MEMBER twice instead.
    const b = encodeStandalone(methodCall({ path: '/a', interface: 'a.b', member: 'M' }), 5).data
    const iface = b.indexOf(Buffer.from([2, 1, 0x73, 0]))
    b[iface] = 3
    rejects('BAD_HEADER', () => decode(b))
  })

  void test('required fields', () => {
    const noMember = encodeStandalone(methodReturn({ serial: 1, sender: undefined }, '', []), 5).data
    noMember[1] = 1 // a METHOD_RETURN turned METHOD_CALL lacks PATH and MEMBER
    rejects('BAD_HEADER', () => decode(noMember))
    const sig = encodeStandalone(signal('/a', 'a.b', 'M', '', []), 5).data
    sig[1] = 3 // a SIGNAL turned ERROR lacks ERROR_NAME
    rejects('BAD_HEADER', () => decode(sig))
  })

  void test('bad names', () => {
    const b = Buffer.from(good)
    const at = b.indexOf('a.b')
    b[at + 1] = 0x2d // "a-b": not an interface name
    rejects('BAD_NAME', () => decode(b))
  })

  void test('more fds claimed than came', () => {
    const { data } = encodeStandalone(methodReturn({ serial: 1, sender: ':1.1' }, 'h', [3]), 5)
    rejects('BAD_FD', () => decodeMessage(data, 0, data.length, []))
  })

  void test('a header-fields array that runs into the body', () => {
    rejects('TRUNCATED', () => decode(patched(12, [0xf0])))
  })

  void test('a body shorter than its signature', () => {
    const b = Buffer.from(good)
    const { length } = b
    const short = Buffer.concat([b.subarray(0, length - 2)])
    short.writeUInt32LE(short.readUInt32LE(4) - 2, 4)
    rejects('TRUNCATED', () => decode(short))
  })

  void test('the framer refuses a bad preamble at once', () => {
    const f = new MessageFramer()
    f.push(Buffer.from('XXXXXXXXXXXXXXXXXXXX'))
    rejects('BAD_ENDIAN', () => f.next())
  })
})

void describe('fuzz', () => {
  const SEEDS = [
    encodeStandalone(methodCall({ path: '/org/freedesktop/machine1', interface: 'org.freedesktop.machine1.Manager', member: 'RegisterMachine', destination: 'org.freedesktop.machine1', signature: 'sayssus', body: ['m', Buffer.alloc(16, 1), 'svc', 'container', 42, '/'] }), 3).data,
    encodeStandalone(methodReturn({ serial: 9, sender: ':1.5' }, 'a(ssso)', [[['a', 'container', 'x', '/a'], ['b', 'vm', 'y', '/b']]]), 4).data,
    encodeStandalone(methodReturn({ serial: 9, sender: ':1.5' }, 'a{sv}', [{ A: new Variant('as', ['x', 'y']), B: new Variant('(tb)', [1n, true]), C: new Variant('v', new Variant('ay', Buffer.from([9]))) }]), 4).data,
    encodeStandalone(signal('/a', 'a.b', 'S', 'a{ia{sv}}hd', [new Map([[1, { k: new Variant('g', 'a{sv}') }]]), 0, 2.5]), 6).data,
  ]

  void test('mutated messages only ever raise MalformedMessageError', () => {
    const rand = prng(0x5eed)
    let decoded = 0
    for (let i = 0; i < 20000; i++) {
      const seed = SEEDS[i % SEEDS.length]!
      const b = Buffer.from(seed)
      const edits = 1 + Math.floor(rand() * 4)
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rand() * b.length)
        const r = rand()
        b[at] = r < 0.3 ? 0 : r < 0.5 ? 0xff : r < 0.6 ? b[at]! ^ (1 << Math.floor(rand() * 8)) : Math.floor(rand() * 256)
      }
      const end = rand() < 0.2 ? Math.floor(rand() * b.length) : b.length
      try {
        decodeMessage(b, 0, end, [100, 101])
        decoded++
      } catch (err) {
        if (!(err instanceof MalformedMessageError)) {
          assert.fail(`input ${b.subarray(0, end).toString('hex')} threw ${String((err as Error)?.stack ?? err)}`)
        }
      }
    }
    assert.ok(decoded > 0, 'some mutations should still decode')
  })

  void test('the framer, fed random streams byte by byte, only raises MalformedMessageError', () => {
    const rand = prng(42)
    let decoded = 0
    let rejected = 0
    for (let i = 0; i < 2000; i++) {
      const f = new MessageFramer()
      const stream = Buffer.concat([SEEDS[i % SEEDS.length]!, Buffer.from(Array.from({ length: 64 }, () => Math.floor(rand() * 256)))])
      try {
        for (const byte of stream) {
          f.push(Buffer.from([byte]))
          for (let frame = f.next(); frame !== undefined; frame = f.next()) {
            decodeMessage(frame.buf, frame.start, frame.end, [])
            decoded++
          }
        }
      } catch (err) {
        if (!(err instanceof MalformedMessageError)) assert.fail(`stream ${stream.toString('hex')} threw ${String(err)}`)
        rejected++
      }
    }
    // Each seed is a whole message: the first three decode, so at least 1,500 frames do; the fourth
    // names fd 0 with no fd passed and is refused, so at least 500 streams are.
    assert.ok(decoded >= 1500, `${decoded} frames decoded`)
    assert.ok(rejected >= 500, `${rejected} streams refused`)
  })
})
