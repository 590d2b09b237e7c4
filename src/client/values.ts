/**
 * Small conversions both client transports share.
 * @module
 */

import { InvalidArgsError } from '../protocol/errors.ts'

/** A machine id given as hex (dashes allowed) or bytes → 16 bytes. */
export function idBytes(id: string | Uint8Array | undefined): Uint8Array {
  if (id === undefined) return new Uint8Array(0)
  if (typeof id !== 'string') return id
  const hex = id.replace(/-/g, '')
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new InvalidArgsError('Invalid machine ID parameter', { parameter: 'id' })
  return Uint8Array.from(hex.match(/../g)!, (b) => parseInt(b, 16))
}

export function idHex(bytes: Uint8Array): string {
  if (bytes.length !== 16 || bytes.every((b) => b === 0)) return ''
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** A queue that turns pushed events into an async iterator; ends on abort or close. */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  readonly #items: T[] = []
  #waiting: ((r: IteratorResult<T>) => void) | undefined
  #done = false
  readonly #onEnd: () => void

  constructor(onEnd: () => void, signal?: AbortSignal) {
    this.#onEnd = onEnd
    signal?.addEventListener('abort', () => { void this.return() }, { once: true })
  }

  push(item: T): void {
    if (this.#done) return
    const w = this.#waiting
    if (w !== undefined) { this.#waiting = undefined; w({ value: item, done: false }) } else this.#items.push(item)
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.#items.shift()
    if (item !== undefined) return Promise.resolve({ value: item, done: false })
    if (this.#done) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve) => { this.#waiting = resolve })
  }

  async return(): Promise<IteratorResult<T>> {
    if (!this.#done) {
      this.#done = true
      this.#onEnd()
      this.#waiting?.({ value: undefined, done: true })
      this.#waiting = undefined
    }
    return { value: undefined, done: true }
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this
  }
}
