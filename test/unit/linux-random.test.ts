import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { randomBytesFromKernel, randomUuid } from '../../src/linux/random.ts'

describe('random bytes and UUIDs from /dev/urandom', () => {
  it('gives as many bytes as asked, different each time', () => {
    for (const n of [0, 1, 8, 16, 4096]) assert.equal(randomBytesFromKernel(n).length, n)
    assert.notDeepEqual(randomBytesFromKernel(16), randomBytesFromKernel(16))
  })

  it('UUIDs are version 4, RFC 9562 variant, lower-case with dashes, and differ', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 200; i++) {
      const u = randomUuid()
      assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      seen.add(u)
    }
    assert.equal(seen.size, 200)
  })
})
