// Our own UTF-8 codec (protocol/ and core/ may not use TextEncoder): it must
// agree with Node's encoder byte for byte and refuse every ill-formed input,
// because names, labels and state-file values are decoded with it.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Buffer } from 'node:buffer'
import { utf8Decode, utf8Encode } from '../../src/protocol/utf8.ts'

const SAMPLES = [
  '', 'plain ascii', '\u0000\u007f', '\u0080', '\u00fc', '\u07ff', '\u0800', '\u20ac', '\uffff',
  '\u{10000}', '\u{1f600}', '\u{10ffff}', 'mixed \u00e9 \u65e5 \u{1f680} end',
]

void describe('utf8Encode', () => {
  for (const s of SAMPLES) {
    void test(`matches Node for ${JSON.stringify(s)}`, () => {
      assert.deepEqual([...utf8Encode(s)], [...Buffer.from(s, 'utf8')])
    })
  }
})

void describe('utf8Decode', () => {
  void test('round trips', () => {
    for (const s of SAMPLES) assert.equal(utf8Decode(utf8Encode(s)), s)
  })

  void test('decodes bytes written by someone else', () => {
    assert.equal(utf8Decode(Uint8Array.from([0xc3, 0xbc])), '\u00fc')
    assert.equal(utf8Decode(Uint8Array.from([0xf0, 0x9f, 0x98, 0x80])), '\u{1f600}')
  })

  const MALFORMED: [string, number[]][] = [
    ['overlong 2-byte NUL', [0xc0, 0x80]],
    ['overlong 2-byte "A"', [0xc1, 0x81]],
    ['overlong 3-byte', [0xe0, 0x80, 0x80]],
    ['overlong 3-byte U+07FF', [0xe0, 0x9f, 0xbf]],
    ['overlong 4-byte', [0xf0, 0x80, 0x80, 0x80]],
    ['overlong 4-byte U+FFFF', [0xf0, 0x8f, 0xbf, 0xbf]],
    ['high surrogate', [0xed, 0xa0, 0x80]],
    ['low surrogate', [0xed, 0xbf, 0xbf]],
    ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['5-byte lead', [0xf8, 0x88, 0x80, 0x80, 0x80]],
    ['0xff', [0xff]],
    ['lone continuation byte', [0x80]],
    ['truncated 2-byte', [0xc3]],
    ['truncated 3-byte', [0xe2, 0x82]],
    ['truncated 4-byte', [0xf0, 0x9f, 0x98]],
    ['continuation replaced by ASCII', [0xc3, 0x41]],
    ['valid text, then a truncated sequence', [0x61, 0x62, 0xe2]],
  ]
  for (const [why, bytes] of MALFORMED) {
    void test(`refuses ${why}`, () => {
      assert.equal(utf8Decode(Uint8Array.from(bytes)), undefined)
      // Node replaces what we refuse, so the two agree on what is ill-formed.
      assert.ok(Buffer.from(bytes).toString('utf8').includes('\ufffd'))
    })
  }
})
