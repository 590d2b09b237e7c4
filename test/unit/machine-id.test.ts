// The machine-id rule (docs/machine-id.md): product UUID → the ID a
// systemd guest takes, machine-id file validation, and the host-side verdict
// `mctl status` shows. systemd's own rules: UUID text form only in
// product_uuid, no byte swapping, all-zero and all-ff refused.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  guestIdVerdict, isValidMachineId, machineIdFromProductUuid, parseMachineIdFile, parseVmUuid, uuidBytes, uuidFromHex,
} from '../../src/protocol/machine-id.ts'

describe('VM UUIDs as users give them', () => {
  test('canonical lower-case UUID form from either input form, any case, surrounding space ignored', () => {
    assert.equal(parseVmUuid('01234567-89AB-4DEF-8123-456789ABCDEF'), '01234567-89ab-4def-8123-456789abcdef')
    assert.equal(parseVmUuid('0123456789ab4def8123456789abcdef'), '01234567-89ab-4def-8123-456789abcdef')
    assert.equal(parseVmUuid(' 0123456789AB4DEF8123456789ABCDEF\n'), '01234567-89ab-4def-8123-456789abcdef')
  })
  test('refuses what is no UUID, and the two values the kernel hides from the guest', () => {
    for (const bad of ['', 'nope', '01234567-89ab-4def-8123-456789abcde', '01234567-89ab-4def-8123-456789abcdef0', '0123456789ab-4def-8123-456789abcdef',
      '{01234567-89ab-4def-8123-456789abcdef}', 'g1234567-89ab-4def-8123-456789abcdef', '00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF']) {
      assert.equal(parseVmUuid(bad), undefined, bad)
    }
  })
  test('Id bytes are in string order (RFC 4122), as machined and libvirt pass them', () => {
    assert.deepEqual([...uuidBytes('01234567-89ab-4def-8123-456789abcdef')],
      [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0x4d, 0xef, 0x81, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef])
    assert.throws(() => uuidBytes('nope'), TypeError)
    assert.equal(uuidFromHex('0123456789ab4def8123456789abcdef'), '01234567-89ab-4def-8123-456789abcdef')
  })
})

describe('the machine ID a guest takes from its product UUID', () => {
  test('lower case, dashes removed, no byte swapping; a trailing newline as sysfs has it', () => {
    assert.equal(machineIdFromProductUuid('01234567-89AB-4DEF-8123-456789ABCDEF\n'), '0123456789ab4def8123456789abcdef')
    assert.equal(machineIdFromProductUuid('01234567-89ab-4def-8123-456789abcdef'), '0123456789ab4def8123456789abcdef')
  })
  test('none from plain hex (systemd wants the UUID text form), all zeros or all ff', () => {
    assert.equal(machineIdFromProductUuid('0123456789ab4def8123456789abcdef'), undefined)
    assert.equal(machineIdFromProductUuid('00000000-0000-0000-0000-000000000000\n'), undefined)
    assert.equal(machineIdFromProductUuid('ffffffff-ffff-ffff-ffff-ffffffffffff'), undefined)
    assert.equal(machineIdFromProductUuid(''), undefined)
  })
})

describe('machine-id files', () => {
  test('valid: 32 lower-case hex digits, not all zeros', () => {
    assert.equal(isValidMachineId('0123456789ab4def8123456789abcdef'), true)
    assert.equal(isValidMachineId('0123456789AB4DEF8123456789ABCDEF'), false, 'never written in upper case')
    assert.equal(isValidMachineId('0'.repeat(32)), false)
    assert.equal(isValidMachineId('0123456789ab4def8123456789abcde'), false)
    assert.equal(isValidMachineId('01234567-89ab-4def-8123-456789abcdef'), false, 'no dashes in the file')
  })
  test('file states as id128_read_fd() sees them', () => {
    assert.deepEqual(parseMachineIdFile('0123456789ab4def8123456789abcdef\n'), { state: 'id', id: '0123456789ab4def8123456789abcdef' })
    assert.deepEqual(parseMachineIdFile('0123456789AB4DEF8123456789ABCDEF'), { state: 'id', id: '0123456789ab4def8123456789abcdef' })
    assert.deepEqual(parseMachineIdFile(''), { state: 'empty' })
    assert.deepEqual(parseMachineIdFile('\n'), { state: 'empty' })
    assert.deepEqual(parseMachineIdFile('uninitialized\n'), { state: 'uninitialized' })
    assert.deepEqual(parseMachineIdFile(`${'0'.repeat(32)}\n`), { state: 'corrupt' })
    assert.deepEqual(parseMachineIdFile('0123456789ab4def8123456789abcdef\n\n'), { state: 'corrupt' })
  })
})

describe('did the guest take its ID?', () => {
  const id = '0123456789ab4def8123456789abcdef'
  test('match, mismatch, nothing registered, nothing known', () => {
    assert.equal(guestIdVerdict(id, `${id}\n`), 'match')
    assert.equal(guestIdVerdict('01234567-89AB-4DEF-8123-456789ABCDEF', id), 'match', 'the registered Id in any spelling')
    assert.equal(guestIdVerdict(id, 'fedcba9876543210fedcba9876543210'), 'mismatch')
    assert.equal(guestIdVerdict('', id), 'no-registered-id')
    assert.equal(guestIdVerdict(id, undefined), 'unknown')
    assert.equal(guestIdVerdict(id, ''), 'unknown')
    assert.equal(guestIdVerdict(id, 'uninitialized'), 'unknown')
  })
})
