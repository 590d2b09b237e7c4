// Cutting the stream into messages must not depend on how the kernel
// split it: one byte at a time, many messages per chunk, a message over
// several chunks all give the same messages.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { MessageFramer } from '../../src/wire/dbus/framer.ts'
import { decodeMessage, encodeStandalone, methodCall, signal } from '../../src/wire/dbus/message.ts'

const messages = [
  encodeStandalone(methodCall({ path: '/a', member: 'M', signature: 's', body: ['x'] }), 1).data,
  encodeStandalone(signal('/a', 'a.b', 'S', 'ay', [Buffer.alloc(100_000, 7)]), 2).data,
  encodeStandalone(methodCall({ path: '/b', member: 'N' }), 3).data,
]
const stream = Buffer.concat(messages)

function drain(f: MessageFramer): number[] {
  const serials: number[] = []
  for (let frame = f.next(); frame !== undefined; frame = f.next()) serials.push(decodeMessage(frame.buf, frame.start, frame.end).serial)
  return serials
}

void describe('MessageFramer', () => {
  for (const size of [1, 7, 16, 1000, 65536, stream.length]) {
    void test(`chunks of ${size} bytes`, () => {
      const f = new MessageFramer()
      const serials: number[] = []
      for (let i = 0; i < stream.length; i += size) {
        f.push(stream.subarray(i, i + size))
        serials.push(...drain(f))
      }
      assert.deepEqual(serials, [1, 2, 3])
      assert.equal(f.buffered, 0)
    })
  }

  void test('holds a partial message until the rest comes', () => {
    const f = new MessageFramer()
    f.push(messages[0]!.subarray(0, 20))
    assert.equal(f.next(), undefined)
    f.push(messages[0]!.subarray(20))
    assert.equal(drain(f).length, 1)
  })
})
