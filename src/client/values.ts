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

/** inet_ntop() for the two families machined reports. */
export function formatAddress(family: number, bytes: Uint8Array): string {
  if (family === 2) return Array.from(bytes).join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16))
  // Compress the longest run of zero groups (of two or more), as inet_ntop does.
  let best = -1
  let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue }
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i }
    i = j
  }
  if (best < 0) return groups.join(':')
  // An IPv4-compatible or -mapped address ends in dotted quad, as glibc's inet_ntop() writes it.
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && groups[5] === 'ffff'))) {
    return `::${bestLen === 5 ? 'ffff:' : ''}${Array.from(bytes.subarray(12, 16)).join('.')}`
  }
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`
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
