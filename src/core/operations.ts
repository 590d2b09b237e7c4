/**
 * Long-running work a caller can start, counted so that no caller can
 * start without limit (systemd's operation.h: OPERATIONS_MAX 64, and
 * CODING_STYLE's "enforce limits on every user controllable resource").
 * Such work: looking into a machine's network namespace (a child process
 * per GetMachineAddresses) and copying files in or out of a container (a
 * child process per Copy*Machine). The transport awaits the result; the
 * cap is shared by every caller on either transport, as systemd's
 * n_operations is.
 * @module
 */

import { TooManyOperationsError } from '../protocol/errors.ts'

export const OPERATIONS_MAX = 64

export class Operations {
  readonly #max: number
  #running = 0
  #peak = 0

  constructor(max = OPERATIONS_MAX) {
    this.#max = max
  }

  /** Operations under way now. */
  get size(): number {
    return this.#running
  }

  /** The most that were ever under way at once. */
  get peak(): number {
    return this.#peak
  }

  /** Whether the cap is reached. */
  get full(): boolean {
    return this.#running >= this.#max
  }

  /** Throws TooManyOperationsError (with `message`, e.g. systemd's "Too many ongoing copies.") when the cap is reached. */
  checkRoom(message?: string): void {
    if (this.full) throw new TooManyOperationsError(message)
  }

  /** Runs `work` as one operation; throws TooManyOperationsError at once when the cap is reached. */
  async run<T>(work: () => Promise<T>, message?: string): Promise<T> {
    this.checkRoom(message)
    this.#running++
    this.#peak = Math.max(this.#peak, this.#running)
    try {
      return await work()
    } finally {
      this.#running--
    }
  }
}
