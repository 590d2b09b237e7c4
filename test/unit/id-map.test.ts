// User-namespace maps read as machine_get_uid_shift() reads them (systemd-src
// §3.8): only one range starting at 0, covering at least up to nobody, the
// same for users and groups, is a "shift"; everything else is complex or
// malformed. MapFrom/MapTo translate through the ranges.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mapFromInside, mapToInside, parseIdMap, uidShiftFromMaps } from '../../src/core/id-map.ts'

/** How the kernel prints /proc/PID/uid_map: right-aligned columns. */
function kernelLine(inside: number, outside: number, count: number): string {
  return `${String(inside).padStart(10)} ${String(outside).padStart(10)} ${String(count).padStart(10)}\n`
}

void describe('uidShiftFromMaps', () => {
  void test('the host identity map gives 0', () => {
    const identity = kernelLine(0, 0, 4294967295)
    assert.equal(uidShiftFromMaps(identity, identity), 0)
    assert.equal(uidShiftFromMaps('0 0 4294967295', '0 0 4294967295'), 0)
  })

  void test('one shifted range of 65536 gives its base', () => {
    const m = kernelLine(0, 100000, 65536)
    assert.equal(uidShiftFromMaps(m, m), 100000)
  })

  void test('a range of exactly 65534 is enough; 65533 is not', () => {
    assert.equal(uidShiftFromMaps('0 100000 65534\n', '0 100000 65534\n'), 100000)
    assert.equal(uidShiftFromMaps('0 100000 65533\n', '0 100000 65533\n'), 'complex')
  })

  void test('a range that does not start at 0 is complex', () => {
    assert.equal(uidShiftFromMaps('1 100000 65536\n', '1 100000 65536\n'), 'complex')
  })

  void test('two lines are complex', () => {
    const two = '0 100000 65536\n65536 300000 1\n'
    assert.equal(uidShiftFromMaps(two, '0 100000 65536\n'), 'complex')
    assert.equal(uidShiftFromMaps('0 100000 65536\n', two), 'complex')
  })

  void test('users and groups mapped differently are complex', () => {
    assert.equal(uidShiftFromMaps('0 100000 65536\n', '0 200000 65536\n'), 'complex')
    assert.equal(uidShiftFromMaps('0 100000 65536\n', '0 100000 65537\n'), 'complex')
  })

  void test('garbage, missing fields and empty maps are malformed', () => {
    const ok = '0 100000 65536\n'
    assert.equal(uidShiftFromMaps('garbage', ok), 'malformed')
    assert.equal(uidShiftFromMaps(ok, 'garbage'), 'malformed')
    assert.equal(uidShiftFromMaps('0 100000\n', ok), 'malformed')
    assert.equal(uidShiftFromMaps('0 100000 65536 7\n', ok), 'malformed')
    assert.equal(uidShiftFromMaps('-1 100000 65536\n', ok), 'malformed')
    assert.equal(uidShiftFromMaps('', ''), 'malformed')
  })
})

void describe('parseIdMap', () => {
  void test('reads kernel-formatted lines and skips blank ones', () => {
    assert.deepEqual(parseIdMap(kernelLine(0, 100000, 65536) + '\n' + kernelLine(65536, 300000, 10)), [
      { inside: 0, outside: 100000, count: 65536 },
      { inside: 65536, outside: 300000, count: 10 },
    ])
  })

  void test('one bad line spoils the map', () => {
    assert.equal(parseIdMap('0 1 2\nx y z\n'), undefined)
  })
})

void describe('mapFromInside / mapToInside', () => {
  const ranges = [
    { inside: 0, outside: 100000, count: 65536 },
    { inside: 70000, outside: 500000, count: 10 },
  ]

  void test('inside → host', () => {
    assert.equal(mapFromInside(ranges, 0), 100000)
    assert.equal(mapFromInside(ranges, 1000), 101000)
    assert.equal(mapFromInside(ranges, 65535), 165535)
    assert.equal(mapFromInside(ranges, 70009), 500009)
  })

  void test('inside ids no range covers map to nothing', () => {
    assert.equal(mapFromInside(ranges, 65536), undefined)
    assert.equal(mapFromInside(ranges, 70010), undefined)
    assert.equal(mapFromInside([], 0), undefined)
  })

  void test('host → inside', () => {
    assert.equal(mapToInside(ranges, 100000), 0)
    assert.equal(mapToInside(ranges, 165535), 65535)
    assert.equal(mapToInside(ranges, 500003), 70003)
  })

  void test('host ids no range covers map to nothing', () => {
    assert.equal(mapToInside(ranges, 99999), undefined)
    assert.equal(mapToInside(ranges, 165536), undefined)
    assert.equal(mapToInside(ranges, 500010), undefined)
  })

  void test('the identity map covers every valid id', () => {
    const identity = [{ inside: 0, outside: 0, count: 4294967295 }]
    assert.equal(mapFromInside(identity, 4294967294), 4294967294)
    assert.equal(mapToInside(identity, 65534), 65534)
  })
})
