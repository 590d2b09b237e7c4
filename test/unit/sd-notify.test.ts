// sd_notify messages from a VM's guest (src/protocol/sd-notify.ts), read
// as hostile input: the framing systemd-vmspawn reads (lines split at \n
// or \r, the first of a repeated field wins), the size limit, NUL bytes
// and broken UTF-8 refused whole, and each field's value checked against
// what systemd itself sends.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { interpretNotifyFields, NOTIFY_MESSAGE_MAX, parseNotifyMessage, STATUS_TEXT_MAX } from '../../src/protocol/sd-notify.ts'
import { prng } from '../helpers/fuzz.ts'

const bytes = (s: string): Uint8Array => Buffer.from(s)

function fields(message: string): ReturnType<typeof interpretNotifyFields> {
  const parsed = parseNotifyMessage(bytes(message))
  assert.ok(parsed.ok)
  return interpretNotifyFields(parsed.assignments)
}

describe('sd_notify messages from the guest', () => {
  test('what systemd >= 256 sends while booting and shutting down', () => {
    assert.deepEqual(fields('X_SYSTEMD_MACHINE_ID=bc7b125b9d8d47ffab31cefb22679654'), { facts: { machineId: 'bc7b125b9d8d47ffab31cefb22679654' }, refused: [] })
    assert.deepEqual(fields('X_SYSTEMD_HOSTNAME=nixos'), { facts: { hostname: 'nixos' }, refused: [] })
    assert.deepEqual(fields('READY=1\nSTATUS=Ready.'), { facts: { ready: true, status: 'Ready.' }, refused: [] })
    assert.deepEqual(fields('X_SYSTEMD_UNIT_ACTIVE=multi-user.target'), { facts: { unitActive: 'multi-user.target' }, refused: [] })
    assert.deepEqual(fields('X_SYSTEMD_UNIT_INACTIVE=multi-user.target'), { facts: { unitInactive: 'multi-user.target' }, refused: [] })
    assert.deepEqual(fields('EXIT_STATUS=0\nX_SYSTEMD_SHUTDOWN=poweroff'), { facts: { exitStatus: 0, shutdown: 'poweroff' }, refused: [] })
  })

  test('framing: \\n and \\r both end a line; empty lines, junk lines and unknown fields are skipped; the first value wins', () => {
    const parsed = parseNotifyMessage(bytes('\r\nREADY=1\r\n\nnonsense\n=x\nlower=1\nX_VENDOR_THING=2\nSTATUS=first\nSTATUS=second\n'))
    assert.ok(parsed.ok)
    assert.deepEqual([...parsed.assignments], [['READY', '1'], ['X_VENDOR_THING', '2'], ['STATUS', 'first']])
    assert.deepEqual(interpretNotifyFields(parsed.assignments), { facts: { ready: true, status: 'first' }, refused: [] })
    assert.deepEqual(parseNotifyMessage(new Uint8Array(0)), { ok: true, assignments: new Map() })
  })

  test(`at most ${NOTIFY_MESSAGE_MAX} bytes, no NUL, valid UTF-8: else the whole message is refused`, () => {
    const full = `STATUS=${'x'.repeat(NOTIFY_MESSAGE_MAX - 'STATUS=READY=1'.length - 1)}\nREADY=1`
    assert.equal(full.length, NOTIFY_MESSAGE_MAX)
    assert.equal(parseNotifyMessage(bytes(full)).ok, true)
    assert.deepEqual(parseNotifyMessage(bytes(`${full}x`)), { ok: false, reason: `longer than ${NOTIFY_MESSAGE_MAX} bytes` })
    assert.deepEqual(parseNotifyMessage(bytes('READY=1\0STATUS=x')), { ok: false, reason: 'embedded NUL byte' })
    assert.deepEqual(parseNotifyMessage(Uint8Array.from([0x52, 0x45, 0x41, 0x44, 0x59, 0x3d, 0xc0, 0xaf])), { ok: false, reason: 'not valid UTF-8' })
    // A UTF-16 surrogate encoded as UTF-8 (CESU-8): not UTF-8.
    assert.deepEqual(parseNotifyMessage(Buffer.concat([bytes('STATUS='), Buffer.from([0xed, 0xa0, 0x80])])), { ok: false, reason: 'not valid UTF-8' })
  })

  test('values systemd would never send are refused, field by field', () => {
    assert.deepEqual(fields('READY=2\nEXIT_STATUS=256\nX_SYSTEMD_MACHINE_ID=00000000000000000000000000000000\nX_SYSTEMD_HOSTNAME=a_b\nX_SYSTEMD_UNIT_ACTIVE=../../etc\nX_SYSTEMD_SHUTDOWN=Power Off\nX_MACHINED_PRODUCT_UUID=ffffffff-ffff-ffff-ffff-ffffffffffff'), {
      facts: {},
      refused: ['READY', 'EXIT_STATUS', 'X_SYSTEMD_MACHINE_ID', 'X_SYSTEMD_HOSTNAME', 'X_SYSTEMD_UNIT_ACTIVE', 'X_SYSTEMD_SHUTDOWN', 'X_MACHINED_PRODUCT_UUID'],
    })
    assert.deepEqual(fields('EXIT_STATUS=-1\nX_SYSTEMD_MACHINE_ID=BC7B125B9D8D47FFAB31CEFB22679654').refused, ['EXIT_STATUS', 'X_SYSTEMD_MACHINE_ID'])
    assert.deepEqual(fields('EXIT_STATUS=255').facts, { exitStatus: 255 })
    assert.deepEqual(fields('X_SYSTEMD_HOSTNAME=' + 'a'.repeat(65)).refused, ['X_SYSTEMD_HOSTNAME'])
  })

  test('STATUS= cannot reach the terminal with control characters, and is cut to a length', () => {
    assert.deepEqual(fields('STATUS=\x1b]0;owned\x07\x1b[2Jclear\x9b31m').facts, { status: ']0;owned[2Jclear31m' })
    assert.deepEqual(fields('STATUS=\x1b\x07').refused, ['STATUS'])
    const long = fields(`STATUS=${'é'.repeat(1000)}`).facts.status
    assert.equal([...long ?? ''].length, STATUS_TEXT_MAX)
  })

  test('random messages never throw, and whatever is kept is a valid value', () => {
    const rand = prng(0x5d)
    const pieces = ['READY=', 'STATUS=', 'EXIT_STATUS=', 'X_SYSTEMD_MACHINE_ID=', 'X_SYSTEMD_HOSTNAME=', 'X_SYSTEMD_UNIT_ACTIVE=', '1', '\n', '\r', '\x1b', 'bc7b125b9d8d47ffab31cefb22679654', '.target', '=']
    for (let i = 0; i < 2000; i++) {
      const parts: Buffer[] = []
      const n = Math.floor(rand() * 40)
      for (let k = 0; k < n; k++) {
        parts.push(rand() < 0.7 ? Buffer.from(pieces[Math.floor(rand() * pieces.length)]!) : Buffer.from([Math.floor(rand() * 256)]))
      }
      if (rand() < 0.05) parts.push(Buffer.alloc(NOTIFY_MESSAGE_MAX, 0x41))
      const input = Buffer.concat(parts)
      const parsed = parseNotifyMessage(input)
      if (!parsed.ok) continue
      const { facts } = interpretNotifyFields(parsed.assignments)
      if (facts.status !== undefined) assert.doesNotMatch(facts.status, /\p{Cc}/u)
      if (facts.exitStatus !== undefined) assert.ok(facts.exitStatus >= 0 && facts.exitStatus <= 255)
    }
  })
})
