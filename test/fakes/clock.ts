/**
 * Time that stands still until a test moves it (the Clock port): timers
 * run only when the test says so.
 * @module
 */

import type { Clock, Disposable } from '../../src/core/ports.ts'

export class FakeClock implements Clock {
  realtime: bigint
  monotonic: bigint
  readonly #timers = new Set<{ callback: () => void; ms: number }>()

  constructor(realtime = 1_795_615_540_288_637n, monotonic = 186_052_458n) {
    this.realtime = realtime
    this.monotonic = monotonic
  }

  realtimeUsec(): bigint {
    return this.realtime
  }

  monotonicUsec(): bigint {
    return this.monotonic
  }

  setTimeout(callback: () => void, ms: number): Disposable {
    const timer = { callback, ms }
    this.#timers.add(timer)
    return { dispose: () => { this.#timers.delete(timer) } }
  }

  /** Moves both clocks on by `ms` and runs every timer that is due by then. */
  advance(ms: number): void {
    this.realtime += BigInt(ms) * 1000n
    this.monotonic += BigInt(ms) * 1000n
    const due = [...this.#timers].filter((t) => (t.ms -= ms) <= 0)
    for (const t of due) this.#timers.delete(t)
    for (const t of due) t.callback()
  }

  /** Runs every pending timer once, whatever its delay. */
  runTimers(): void {
    const due = [...this.#timers]
    this.#timers.clear()
    for (const t of due) t.callback()
  }
}
