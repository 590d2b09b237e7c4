/**
 * The Clock port as the core relies on it: CLOCK_REALTIME and
 * CLOCK_MONOTONIC in microseconds, and timers that call back once their
 * time has passed, never after they were disposed of.
 * @module
 */

import assert from 'node:assert/strict'
import type { Clock } from '../../src/core/ports.ts'
import type { ContractCase, Harness } from './contract.ts'

export interface ClockHarness extends Harness {
  readonly clock: Clock
  /** Lets `ms` milliseconds pass. */
  readonly pass: (ms: number) => Promise<void>
}

export const clockCases: readonly ContractCase<ClockHarness>[] = [
  {
    name: 'both clocks count microseconds; the monotonic one moves on by at least the time that passed',
    async run({ clock, pass }) {
      const realtime = clock.realtimeUsec()
      const monotonic = clock.monotonicUsec()
      assert.equal(typeof realtime, 'bigint')
      assert.equal(typeof monotonic, 'bigint')
      // After 2001 (10⁹ s since the epoch): seconds or milliseconds would be far smaller.
      assert.ok(realtime > 1_000_000_000_000_000n)
      await pass(20)
      assert.ok(clock.monotonicUsec() - monotonic >= 20_000n)
    },
  },
  {
    name: 'a timer calls back once its time has passed; one disposed of never does',
    async run({ clock, pass }) {
      const fired: string[] = []
      clock.setTimeout(() => fired.push('kept'), 10)
      const dropped = clock.setTimeout(() => fired.push('dropped'), 10)
      dropped.dispose()
      await pass(30)
      assert.deepEqual(fired, ['kept'])
    },
  },
]
