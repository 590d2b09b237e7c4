// The pure rules of images: image_name_is_valid(), limits, object paths,
// the OS files read from an image, which partition of a raw image is its
// root, and nspawn's lock file names.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { imageNameIsValid, imageObjectPath, imageTypeFromString, IMAGE_TYPES, limitIsValid, UINT64_MAX } from '../../src/protocol/image.ts'
import { pickRoot } from '../../src/backends/image-loop.ts'
import { parseHostnameFile, parseMachineIdFile } from '../../src/backends/image-metadata.ts'

void describe('image rules', () => {
  void test('names: file names without control characters, hidden ones too, never ".#…"', () => {
    for (const ok of ['alpha', '.hidden', '.host', 'under_score', 'with space', 'ü', 'a.raw', 'x'.repeat(255)]) assert.ok(imageNameIsValid(ok), ok)
    for (const bad of ['', '.', '..', 'a/b', '.#tmp', 'tab\there', 'nl\n', 'del\x7f', 'x'.repeat(256), 'ü'.repeat(128), '\ud800']) assert.ok(!imageNameIsValid(bad), JSON.stringify(bad))
  })

  void test('types round-trip; anything else is no type', () => {
    for (const t of IMAGE_TYPES) assert.equal(imageTypeFromString(t), t)
    assert.equal(imageTypeFromString('tarball'), undefined)
  })

  void test('limits: below 2⁶³, or UINT64_MAX for none', () => {
    assert.ok(limitIsValid(0n) && limitIsValid((1n << 63n) - 1n) && limitIsValid(UINT64_MAX))
    assert.ok(!limitIsValid(1n << 63n) && !limitIsValid(UINT64_MAX - 1n) && !limitIsValid(-1n))
  })

  void test('object paths are bus-label escaped', () => {
    assert.equal(imageObjectPath('.host'), '/org/freedesktop/machine1/image/_2ehost')
    assert.equal(imageObjectPath('my-os'), '/org/freedesktop/machine1/image/my_2dos')
  })

  void test('/etc/hostname: the first line that is no comment, if it is a valid host name', () => {
    assert.equal(parseHostnameFile('# comment\n\n  myhost.  \nother\n'), 'myhost')
    assert.equal(parseHostnameFile('not a host name\n'), '')
    assert.equal(parseHostnameFile(''), '')
  })

  void test('/etc/machine-id: 32 hex digits and at most a newline, lower-cased; "uninitialized" and zeros are none', () => {
    assert.equal(parseMachineIdFile('0123456789ABCDEF0123456789abcdef\n'), '0123456789abcdef0123456789abcdef')
    for (const bad of ['uninitialized\n', '0'.repeat(32), '0123\n', '0123456789abcdef0123456789abcdef\n\n']) assert.equal(parseMachineIdFile(bad), '')
  })

  void test('a raw image\'s root: its architecture\'s root partition, else the one generic Linux partition, else the whole image', () => {
    const p = (type: string, offset: bigint) => ({ offset, size: 1024n, type })
    const root = p('4f68bce3-e8cd-4db1-96e7-fbcaf984b709', 2048n)
    const generic = p('0fc63daf-8483-4772-8e79-3d69d8477de4', 4096n)
    assert.equal(pickRoot([generic, root], 'x64'), root)
    assert.equal(pickRoot([generic, p('c12a7328-f81f-11d2-ba4b-00a0c93ec93b', 1n)], 'x64'), generic)
    assert.equal(pickRoot([p('0x83', 512n)], 'x64')?.offset, 512n)
    assert.equal(pickRoot([generic, generic], 'x64'), undefined)
    assert.equal(pickRoot([], 'x64'), undefined)
    assert.deepEqual(pickRoot(undefined, 'x64'), { offset: 0n, size: undefined })
  })
})
