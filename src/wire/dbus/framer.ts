/**
 * Cutting a byte stream into whole messages. Chunks are kept as they
 * arrive; a message that spans chunks is joined once, when all of it is
 * there. The length a message claims is checked as soon as its first 16
 * bytes are in, so a peer cannot make us buffer more than the 128-MiB
 * limit.
 * @module
 */

import { FIXED_HEADER_BYTES, messageLength } from './message.ts'

export interface Frame {
  readonly buf: Buffer
  readonly start: number
  readonly end: number
}

const EMPTY = Buffer.alloc(0)

export class MessageFramer {
  #head: Buffer = EMPTY
  #offset = 0
  #more: Buffer[] = []
  #moreBytes = 0

  get buffered(): number {
    return this.#head.length - this.#offset + this.#moreBytes
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    if (this.#offset === this.#head.length) {
      this.#head = chunk
      this.#offset = 0
    } else {
      this.#more.push(chunk)
      this.#moreBytes += chunk.length
    }
  }

  #join(): void {
    this.#head = Buffer.concat([this.#head.subarray(this.#offset), ...this.#more])
    this.#offset = 0
    this.#more = []
    this.#moreBytes = 0
  }

  /** The next whole message, or undefined until more bytes come; throws MalformedMessageError. */
  next(): Frame | undefined {
    const available = this.buffered
    if (available < FIXED_HEADER_BYTES) return undefined
    if (this.#head.length - this.#offset < FIXED_HEADER_BYTES) this.#join()
    const length = messageLength(this.#head, this.#offset)
    if (available < length) return undefined
    if (this.#head.length - this.#offset < length) this.#join()
    const frame = { buf: this.#head, start: this.#offset, end: this.#offset + length }
    this.#offset += length
    if (this.#offset === this.#head.length) {
      this.#head = this.#more.shift() ?? EMPTY
      this.#offset = 0
      this.#moreBytes -= this.#head.length
    }
    return frame
  }
}
