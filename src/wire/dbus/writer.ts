/**
 * The byte buffer D-Bus messages are marshalled into (little-endian): it
 * grows as needed, aligns relative to the start of the current message,
 * and hands out a batch of messages at once, so they leave in one socket
 * write. The encoders in marshal.ts write through it.
 * @module
 */

import { InvalidValueError } from './errors.ts'

const CHUNK = 64 * 1024
/** Below this much room left, a new buffer is started rather than the tail reused. */
const MIN_TAIL = 4 * 1024
/** A buffer grown past this for a big message is let go once that message is taken. */
const MAX_KEPT = 1024 * 1024

/**
 * A growable byte buffer that messages are written into one after another.
 * Alignment is relative to `base`, the start of the current message;
 * `take()` hands out everything written since the last take, so a batch of
 * messages leaves in one socket write. Handed-out bytes are never written
 * again.
 */
export class Writer {
  buf: Buffer
  pos = 0
  /** Where the current message starts; alignment counts from here. */
  base = 0
  /** Where the bytes not yet taken start. */
  #start = 0
  depth = 0
  /** File descriptors the current batch passes ('h' values hold indexes into this). */
  fds: number[] = []

  constructor(size = CHUNK) {
    this.buf = Buffer.allocUnsafe(size)
  }

  get pending(): number {
    return this.pos - this.#start
  }

  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.#grow(n)
  }

  #grow(n: number): void {
    const used = this.pos - this.#start
    const next = Buffer.allocUnsafe(Math.max(CHUNK, (used + n) * 2))
    this.buf.copy(next, 0, this.#start, this.pos)
    this.base -= this.#start
    this.pos = used
    this.#start = 0
    this.buf = next
  }

  align(n: number): void {
    const pad = -(this.pos - this.base) & (n - 1)
    if (pad === 0) return
    this.ensure(pad)
    const { buf } = this
    for (let i = 0; i < pad; i++) buf[this.pos++] = 0
  }

  u8(v: number): void {
    this.ensure(1)
    this.buf[this.pos++] = v
  }

  u32(v: number): void {
    this.align(4)
    this.ensure(4)
    const { buf } = this
    const p = this.pos
    buf[p] = v
    buf[p + 1] = v >>> 8
    buf[p + 2] = v >>> 16
    buf[p + 3] = v >>> 24
    this.pos = p + 4
  }

  /** Overwrites a u32 written earlier, at `offset` bytes from the message start. */
  patchU32(offset: number, v: number): void {
    this.buf.writeUInt32LE(v, this.base + offset)
  }

  /**
   * A string's UTF-8 bytes, its byte length first (4 bytes, or 1 for
   * signatures) and a NUL after. Throws InvalidValueError for a NUL inside:
   * no D-Bus string may hold one.
   */
  string(s: string, lengthBytes: 1 | 4): number {
    if (lengthBytes === 4) this.align(4)
    const len = s.length
    this.ensure(lengthBytes + len * 3 + 1)
    const { buf } = this
    const at = this.pos
    const start = at + lengthBytes
    let n = 0
    // Short ASCII strings (names, paths, most values) are copied here; Buffer.write costs more to call than that.
    if (len <= 64) {
      for (; n < len; n++) {
        const c = s.charCodeAt(n)
        if (c >= 0x80 || c === 0) break
        buf[start + n] = c
      }
    }
    if (n < len) {
      if (s.includes('\0')) throw new InvalidValueError(`Cannot marshal a string with a NUL inside: ${JSON.stringify(s.slice(0, 40))}`)
      n = buf.write(s, start, 'utf8')
    }
    if (lengthBytes === 4) {
      buf[at] = n
      buf[at + 1] = n >>> 8
      buf[at + 2] = n >>> 16
      buf[at + 3] = n >>> 24
    } else {
      buf[at] = n
    }
    buf[start + n] = 0
    this.pos = start + n + 1
    return n
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  /** Starts a message at the current position. */
  beginMessage(): void {
    this.base = this.pos
    this.depth = 0
  }

  /** Forgets everything, taken or not (for a scratch writer whose bytes are copied out at once). */
  reset(): void {
    if (this.buf.length > MAX_KEPT) this.buf = Buffer.allocUnsafe(CHUNK)
    this.pos = 0
    this.base = 0
    this.#start = 0
    this.depth = 0
    this.fds = []
  }

  /** Forgets a half-written message. */
  rollback(messageStart: number, fdCount: number): void {
    this.pos = messageStart
    this.base = messageStart
    this.fds.length = fdCount
    this.depth = 0
  }

  /** Everything written since the last take, and the fds that go with it. */
  take(): { data: Buffer; fds: number[] } {
    const data = this.buf.subarray(this.#start, this.pos)
    const fds = this.fds
    this.fds = []
    if (this.buf.length - this.pos < MIN_TAIL || this.buf.length > MAX_KEPT) {
      this.buf = Buffer.allocUnsafe(CHUNK)
      this.pos = 0
    }
    this.#start = this.pos
    this.base = this.pos
    return { data, fds }
  }
}
