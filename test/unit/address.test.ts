// Machine addresses as text, as glibc's inet_ntop() writes them (the
// strings machinectl prints): the longest run of two or more zero groups
// compressed (the first of equal runs), a single zero group kept, and
// IPv4-compatible and -mapped addresses ending in a dotted quad.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatAddress } from '../../src/protocol/address.ts'

const v6 = (...groups: number[]): Uint8Array => Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]))

void test('formatAddress writes what inet_ntop writes', () => {
  assert.equal(formatAddress(2, Uint8Array.from([192, 168, 0, 1])), '192.168.0.1')
  assert.equal(formatAddress(10, v6(0xfe80, 0, 0, 0, 0x1, 0x2, 0x3, 0x4)), 'fe80::1:2:3:4')
  assert.equal(formatAddress(10, v6(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1)), '2001:db8:0:1::1')
  assert.equal(formatAddress(10, v6(0x2001, 0, 0, 1, 0, 0, 1, 1)), '2001::1:0:0:1:1')
  assert.equal(formatAddress(10, v6(0, 0, 0, 0, 0, 0, 0, 1)), '::1')
  assert.equal(formatAddress(10, v6(0, 0, 0, 0, 0, 0, 0, 0)), '::')
  assert.equal(formatAddress(10, v6(0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001)), '::ffff:10.0.0.1')
  assert.equal(formatAddress(10, v6(0, 0, 0, 0, 0, 0, 0x0a00, 0x0001)), '::10.0.0.1')
  assert.equal(formatAddress(10, v6(1, 0, 2, 0, 3, 0, 4, 0)), '1:0:2:0:3:0:4:0')
})
