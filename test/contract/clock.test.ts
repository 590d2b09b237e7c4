// The Clock contract (clock.case.ts) against FakeClock (time passes when
// the test says so) and SystemClock (time passes).
import { setTimeout as sleep } from 'node:timers/promises'
import { SystemClock } from '../../src/backends/clock.ts'
import { FakeClock } from '../fakes/clock.ts'
import { clockCases } from './clock.case.ts'
import { runContract } from './contract.ts'

runContract('Clock: FakeClock', clockCases, async () => {
  const clock = new FakeClock()
  return { clock, pass: async (ms) => clock.advance(ms), dispose: async () => undefined }
}, 'fake')

/** At least `ms` by the monotonic clock: a Node timer may fire up to a millisecond early by it (libuv's loop time is whole ms). */
async function pass(ms: number): Promise<void> {
  const until = performance.now() + ms
  while (performance.now() < until) await sleep(Math.max(1, until - performance.now()))
}

runContract('Clock: SystemClock', clockCases, async () => ({ clock: new SystemClock(), pass, dispose: async () => undefined }), 'real')
