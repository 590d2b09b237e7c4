// NUL framing and message checks, without a socket: frames split however
// the bytes arrive, the size limit counts the bytes before the NUL, and
// every shape sd-varlink calls a protocol violation is one here.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { FrameDecoder, type Frame } from '../../src/wire/varlink/framing.ts'
import { encodeMessage, parseCall } from '../../src/transports/varlink/message.ts'

const text = (frames: Frame[]): string[] => frames.map((f) => (f.kind === 'message' ? f.bytes.toString() : 'oversized'))

describe('FrameDecoder', () => {
  it('splits at NULs within and across chunks', () => {
    const d = new FrameDecoder(100)
    assert.deepEqual(text(d.push(Buffer.from('{"a":1}\0{"b"'))), ['{"a":1}'])
    assert.equal(d.pendingBytes, 4)
    assert.deepEqual(text(d.push(Buffer.from(':2}'))), [])
    assert.deepEqual(text(d.push(Buffer.from('\0\0{}\0'))), ['{"b":2}', '', '{}'])
    assert.equal(d.pendingBytes, 0)
  })

  it('returns frames that do not share memory with the chunk they came in', () => {
    const d = new FrameDecoder(100)
    const chunk = Buffer.from('abc\0')
    const [frame] = d.push(chunk)
    chunk.fill(0x7a)
    assert.equal(frame?.kind === 'message' && frame.bytes.toString(), 'abc')
  })

  it('allows exactly the limit, reports one byte more once, then takes nothing', () => {
    const d = new FrameDecoder(4)
    assert.deepEqual(text(d.push(Buffer.from('abcd\0'))), ['abcd'])
    assert.deepEqual(text(d.push(Buffer.from('ab'))), [])
    assert.deepEqual(text(d.push(Buffer.from('cde\0xy\0'))), ['oversized'])
    assert.deepEqual(text(d.push(Buffer.from('ok\0'))), [])
    assert.equal(d.pendingBytes, 0)
  })

  it('reports a flood without NUL before buffering past the limit', () => {
    const d = new FrameDecoder(1024)
    assert.deepEqual(text(d.push(Buffer.alloc(1000, 0x61))), [])
    assert.deepEqual(text(d.push(Buffer.alloc(1_000_000, 0x61))), ['oversized'])
    assert.equal(d.pendingBytes, 0)
  })
})

describe('parseCall', () => {
  const call = (s: string): ReturnType<typeof parseCall> => parseCall(Buffer.from(s))

  it('reads method, parameters and flags; absent or null parameters are {}', () => {
    assert.deepEqual(call('{"method":"a.b.C","parameters":{"x":1},"more":true}'), { method: 'a.b.C', parameters: { x: 1 }, oneway: false, more: true })
    assert.deepEqual(call('{"method":"a.b.C"}'), { method: 'a.b.C', parameters: {}, oneway: false, more: false })
    assert.deepEqual(call('{"parameters":null,"method":"a.b.C","oneway":true}'), { method: 'a.b.C', parameters: {}, oneway: true, more: false })
    // sd-varlink only refuses the second flag once the first is set.
    assert.deepEqual(call('{"method":"a.b.C","oneway":false,"more":true}'), { method: 'a.b.C', parameters: {}, oneway: false, more: true })
  })

  it('gives a reason for every protocol violation', () => {
    for (const bad of [
      '', 'nul', '{', '[]', '"a.b.C"', '{"method":"a.b.C","x":1}', '{"method":null}', '{"method":"a.b.C","parameters":"x"}',
      '{"method":"a.b.C","more":"yes"}', '{"method":"a.b.C","more":true,"oneway":false}', '{"method":"a.b.C","oneway":true,"more":true}',
      '{"oneway":true}', '['.repeat(100_000),
    ]) assert.equal(typeof call(bad), 'string', bad.slice(0, 40))
    assert.equal(typeof parseCall(Buffer.from([0x7b, 0xc3, 0x28, 0x7d])), 'string')
  })

  it('encodes replies as JSON plus one NUL', () => {
    assert.equal(encodeMessage({ parameters: { a: 'é' }, continues: true }).toString(), '{"parameters":{"a":"é"},"continues":true}\0')
  })
})
