// `mctl show` prints properties by bus_print_all_properties()'s rules
// (bus-print-properties.c): empty values only with -a/-p, types it cannot
// print as "[unprintable]" (again only with -a/-p), "Timestamp" names as
// dates, --value for the bare value, and "-p Name=value" as a filter.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { formatProperties, parseBoolean, shellMaybeQuote, type TypedProperty } from '../../src/cli/output/properties.ts'

const MACHINE: TypedProperty[] = [
  { name: 'Name', signature: 's', value: 'g1' },
  { name: 'Id', signature: 'ay', value: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]) },
  { name: 'Timestamp', signature: 't', value: 1795616774000000n },
  { name: 'TimestampMonotonic', signature: 't', value: 404451674n },
  { name: 'Service', signature: 's', value: '' },
  { name: 'Leader', signature: 'u', value: 4605 },
  { name: 'RootDirectory', signature: 's', value: '' },
  { name: 'NetworkInterfaces', signature: 'ai', value: [] },
  { name: 'State', signature: 's', value: 'running' },
]
const plain = { showEmpty: false, onlyValue: false }
const all = { showEmpty: true, onlyValue: false }

void describe('formatProperties', () => {
  void test('by default: set values only, and nothing it cannot print', () => {
    process.env.TZ = 'UTC'
    assert.equal(formatProperties(MACHINE, undefined, plain),
      'Name=g1\nId=0102030405060708090a0b0c0d0e0f10\nTimestamp=Wed 2026-11-25 14:26:14 UTC\nTimestampMonotonic=404451674\nLeader=4605\nState=running\n')
  })

  void test('--all: empty values and "[unprintable]" too', () => {
    assert.equal(formatProperties(MACHINE, undefined, all),
      'Name=g1\nId=0102030405060708090a0b0c0d0e0f10\nTimestamp=Wed 2026-11-25 14:26:14 UTC\nTimestampMonotonic=404451674\n'
      + 'Service=\nLeader=4605\nRootDirectory=\nNetworkInterfaces=[unprintable]\nState=running\n')
  })

  void test('-p picks properties in the daemon\'s order, empty ones included', () => {
    assert.equal(formatProperties(MACHINE, ['Leader', 'Name', 'Service'], all), 'Name=g1\nService=\nLeader=4605\n')
    assert.equal(formatProperties(MACHINE, ['Nope'], all), '')
  })

  void test('--value prints the value alone, but "[unprintable]" keeps its name', () => {
    assert.equal(formatProperties(MACHINE, ['Id'], { showEmpty: true, onlyValue: true }), '0102030405060708090a0b0c0d0e0f10\n')
    assert.equal(formatProperties(MACHINE, ['NetworkInterfaces', 'Service'], { showEmpty: true, onlyValue: true }), '\nNetworkInterfaces=[unprintable]\n')
  })

  void test('-p Name=value shows Name only when it has that value', () => {
    assert.equal(formatProperties(MACHINE, ['Name=g1', 'State=opening'], all), 'Name=g1\n')
    assert.equal(formatProperties(MACHINE, ['NetworkInterfaces=x'], all), '')
  })

  void test('the Manager: 64-bit numbers as they are', () => {
    const manager: TypedProperty[] = [
      { name: 'PoolPath', signature: 's', value: '/var/lib/machines' },
      { name: 'PoolUsage', signature: 't', value: 18446744073709551615n },
    ]
    assert.equal(formatProperties(manager, undefined, plain), 'PoolPath=/var/lib/machines\nPoolUsage=18446744073709551615\n')
  })

  void test('other types: booleans, modes in octal, spans, string arrays, a string with a newline', () => {
    const props: TypedProperty[] = [
      { name: 'ReadOnly', signature: 'b', value: true },
      { name: 'DeviceMode', signature: 'u', value: 0o644 },
      { name: 'UID', signature: 'u', value: 0xffffffff },
      { name: 'TimeoutUSec', signature: 't', value: 90_500_000n },
      { name: 'Delta', signature: 'i', value: -3 },
      { name: 'Env', signature: 'as', value: ['A=1', 'B=two words', 'C="q"'] },
      { name: 'Bad', signature: 's', value: 'a\nb' },
      { name: 'Empty', signature: 'as', value: [] },
      { name: 'Path', signature: 'o', value: '/x' },
    ]
    assert.equal(formatProperties(props, undefined, plain),
      'ReadOnly=yes\nDeviceMode=0644\nUID=[not set]\nTimeoutUSec=1min 30.500000s\nDelta=-3\nEnv=A=1 "B=two words" "C=\\"q\\""\nBad=[unprintable]\n')
    assert.equal(formatProperties(props, ['ReadOnly=no', 'Empty', 'Path'], all), 'Empty=\nPath=[unprintable]\n')
  })
})

void describe('helpers', () => {
  void test('shellMaybeQuote quotes only when needed', () => {
    assert.equal(shellMaybeQuote('plain-word'), 'plain-word')
    assert.equal(shellMaybeQuote('two words'), '"two words"')
    assert.equal(shellMaybeQuote('$x`y'), '"\\$x\\`y"')
    assert.equal(shellMaybeQuote('tab\there'), '"tab\\there"')
  })
  void test('parseBoolean knows systemd\'s spellings', () => {
    assert.equal(parseBoolean('YES'), true)
    assert.equal(parseBoolean('off'), false)
    assert.equal(parseBoolean('maybe'), undefined)
  })
})
