/**
 * Random bytes and UUIDs from the kernel's /dev/urandom, for the launchers.
 * node:crypto would do the same, but loading it (its ciphers and streams)
 * costs about 5 ms of every start, and `machined-spawn -b`'s start is part
 * of the container's boot time (bench/spawn-boot.js).
 * @module
 */

import { closeSync, openSync, readSync } from 'node:fs'

/** `n` bytes from the kernel's CSPRNG (which never blocks once it is seeded at boot). */
export function randomBytesFromKernel(n: number): Buffer {
  const out = Buffer.alloc(n)
  const fd = openSync('/dev/urandom', 'r')
  try {
    for (let got = 0; got < n;) {
      const r = readSync(fd, out, got, n - got, null)
      if (r === 0) throw new Error('/dev/urandom gave no bytes')
      got += r
    }
  } finally {
    closeSync(fd)
  }
  return out
}

/** A random (version 4, RFC 9562) UUID, lower-case with dashes, as crypto.randomUUID() gives. */
export function randomUuid(): string {
  const b = randomBytesFromKernel(16)
  b[6] = (b[6]! & 0x0f) | 0x40
  b[8] = (b[8]! & 0x3f) | 0x80
  const hex = b.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
