// Times as machinectl prints them (time-util.c): format_timestamp() in the
// local zone with glibc's zone abbreviation (read from TZif files and POSIX
// TZ strings as glibc reads them), format_timestamp_relative() ("7s ago")
// and format_timespan() ("1min 30.500000s"). The zone cases were checked
// against `TZ=… date '+%a %Y-%m-%d %H:%M:%S %Z'`.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatTimespan, formatTimestamp, formatTimestampRelative } from '../../src/cli/output/timestamp.ts'
import { localZoneAt, parsePosixTz, parseTzif } from '../../src/cli/output/timezone.ts'

const S = 1_000_000n
const at = (iso: string): bigint => BigInt(Date.parse(iso)) * 1000n

/** A TZif v2 file: two zone types, transitions between them, and an optional footer rule. */
function tzif(transitions: [number, number][], types: [number, number, string][], footer: string): Buffer {
  const chars = Buffer.from(types.map(([, , a]) => `${a}\0`).join(''), 'latin1')
  const header = (timecnt: number, typecnt: number, charcnt: number): Buffer => {
    const b = Buffer.alloc(44)
    b.write('TZif2', 0, 'latin1')
    for (const [i, v] of [0, 0, 0, timecnt, typecnt, charcnt].entries()) b.writeUInt32BE(v, 20 + i * 4)
    return b
  }
  const v1 = Buffer.concat([header(0, 1, 4), Buffer.from([0, 0, 0, 0, 0, 0]), Buffer.from('UTC\0', 'latin1')])
  const times = Buffer.alloc(transitions.length * 8)
  transitions.forEach(([t], i) => times.writeBigInt64BE(BigInt(t), i * 8))
  const idx = Buffer.from(transitions.map(([, type]) => type))
  let offset = 0
  const ttinfo = Buffer.concat(types.map(([utoff, isdst, abbr]) => {
    const b = Buffer.alloc(6)
    b.writeInt32BE(utoff, 0)
    b[4] = isdst
    b[5] = offset
    offset += abbr.length + 1
    return b
  }))
  const v2 = Buffer.concat([header(transitions.length, types.length, chars.length), times, idx, ttinfo, chars])
  return Buffer.concat([v1, v2, Buffer.from(`\n${footer}\n`, 'latin1')])
}

void describe('formatTimestamp', () => {
  void test('UTC, English weekday', () => {
    assert.equal(formatTimestamp(at('2026-11-25T14:26:14.123Z'), { TZ: 'UTC0' }), 'Wed 2026-11-25 14:26:14 UTC')
    assert.equal(formatTimestamp(at('2026-11-25T14:26:14Z'), { TZ: '' }), 'Wed 2026-11-25 14:26:14 UTC')
  })
  void test('POSIX TZ rules: standard and daylight time', () => {
    const tz = { TZ: 'EST5EDT,M3.2.0,M11.1.0' }
    assert.equal(formatTimestamp(at('2026-11-25T14:46:14Z'), tz), 'Wed 2026-11-25 09:46:14 EST')
    assert.equal(formatTimestamp(at('2026-07-02T13:46:40Z'), tz), 'Thu 2026-07-02 09:46:40 EDT')
    assert.equal(formatTimestamp(at('2100-06-30T00:53:20Z'), tz), 'Tue 2100-06-29 20:53:20 EDT')
    assert.equal(formatTimestamp(at('2026-07-02T13:46:40Z'), { TZ: '<+03>-3' }), 'Thu 2026-07-02 16:46:40 +03')
  })
  void test('unset and far-future timestamps', () => {
    assert.equal(formatTimestamp(0n), undefined)
    assert.equal(formatTimestamp(0xffff_ffff_ffff_ffffn), undefined)
    assert.equal(formatTimestamp(253_402_214_400_000_000n), '--- XXXX-XX-XX XX:XX:XX')
  })
})

void describe('time zones', () => {
  // Europe/Berlin since 1996, as a TZif file with two transitions and its footer rule.
  const berlin = parseTzif(tzif([[1774746000, 1], [1792890000, 0]], [[3600, 0, 'CET'], [7200, 1, 'CEST']], 'CET-1CEST,M3.5.0,M10.5.0/3'))!

  void test('a TZif file: type 0 before the first transition, types by transition, the footer rule after the last', () => {
    assert.notEqual(berlin, undefined)
    assert.equal(parseTzif(Buffer.from('nope')), undefined)
    const dir = mkdtempSync(join(tmpdir(), 'mctl-tz-'))
    try {
      const file = join(dir, 'Berlin')
      writeFileSync(file, tzif([[1774746000, 1], [1792890000, 0]], [[3600, 0, 'CET'], [7200, 1, 'CEST']], 'CET-1CEST,M3.5.0,M10.5.0/3'))
      const tz = { TZ: file }
      assert.equal(formatTimestamp(at('2026-01-10T12:00:00Z'), tz), 'Sat 2026-01-10 13:00:00 CET')
      assert.equal(formatTimestamp(at('2026-07-02T13:46:40Z'), tz), 'Thu 2026-07-02 15:46:40 CEST')
      assert.equal(formatTimestamp(at('2026-11-25T14:46:14Z'), tz), 'Wed 2026-11-25 15:46:14 CET')
      assert.equal(formatTimestamp(at('2100-06-30T00:53:20Z'), tz), 'Wed 2100-06-30 02:53:20 CEST')
      assert.equal(formatTimestamp(at('2026-07-02T13:46:40Z'), { TZ: `:${file}` }), 'Thu 2026-07-02 15:46:40 CEST')
    } finally {
      rmSync(dir, { recursive: true })
    }
  })

  void test('POSIX rules: month/week/day dates, "last week", times after midnight', () => {
    const rule = parsePosixTz('CET-1CEST,M3.5.0,M10.5.0/3')!
    assert.deepEqual(rule.std, { offset: 3600, abbreviation: 'CET' })
    assert.deepEqual(rule.dst?.zone, { offset: 7200, abbreviation: 'CEST' })
    // Last Sunday of March 2026 is the 29th; DST starts 01:00 UTC.
    assert.equal(localZoneAt(Date.parse('2026-03-29T00:59:59Z') / 1000, { TZ: 'CET-1CEST,M3.5.0,M10.5.0/3' }).abbreviation, 'CET')
    assert.equal(localZoneAt(Date.parse('2026-03-29T01:00:00Z') / 1000, { TZ: 'CET-1CEST,M3.5.0,M10.5.0/3' }).abbreviation, 'CEST')
    // Last Sunday of October 2026 is the 25th; DST ends 01:00 UTC.
    assert.equal(localZoneAt(Date.parse('2026-10-25T00:59:59Z') / 1000, { TZ: 'CET-1CEST,M3.5.0,M10.5.0/3' }).abbreviation, 'CEST')
    assert.equal(localZoneAt(Date.parse('2026-10-25T01:00:00Z') / 1000, { TZ: 'CET-1CEST,M3.5.0,M10.5.0/3' }).abbreviation, 'CET')
  })

  void test('southern hemisphere rules wrap around the new year', () => {
    const tz = { TZ: 'AEST-10AEDT,M10.1.0,M4.1.0/3' }
    assert.equal(localZoneAt(Date.parse('2026-01-15T00:00:00Z') / 1000, tz).abbreviation, 'AEDT')
    assert.equal(localZoneAt(Date.parse('2026-06-15T00:00:00Z') / 1000, tz).abbreviation, 'AEST')
  })
})

void describe('formatTimestampRelative', () => {
  const now = at('2026-11-25T14:30:00Z')
  const cases: [bigint, string][] = [
    [0n, 'now'], [500n, '500us ago'], [166_000n, '166ms ago'], [7n * S, '7s ago'], [90n * S, '1min 30s ago'],
    [6n * 60n * S, '6min ago'], [3700n * S, '1h 1min ago'], [7n * 3600n * S, '7h ago'], [26n * 3600n * S, '1 day 2h ago'],
    [3n * 86400n * S, '3 days ago'], [8n * 86400n * S, '1 week 1 day ago'], [40n * 86400n * S, '1 month 9 days ago'],
    [400n * 86400n * S, '1 year 1 month ago'],
  ]
  for (const [d, text] of cases) void test(text, () => assert.equal(formatTimestampRelative(now - d, now), text))
  void test('in the future', () => assert.equal(formatTimestampRelative(now + 7n * S, now), '7s left'))
})

void describe('formatTimespan', () => {
  const cases: [bigint, string][] = [
    [0n, '0'], [1n, '1us'], [1500n, '1.500ms'], [1_500_000n, '1.500000s'], [90_500_000n, '1min 30.500000s'],
    [2n * 3600n * S, '2h'], [93784n * S, '1d 2h 3min 4s'], [0xffff_ffff_ffff_ffffn, 'infinity'],
  ]
  for (const [t, text] of cases) void test(text, () => assert.equal(formatTimespan(t), text))
  void test('with an accuracy the fraction is shorter', () => assert.equal(formatTimespan(1_500_000n, 1000n), '1.500s'))
})
