/**
 * Time for the core: CLOCK_REALTIME and CLOCK_MONOTONIC in microseconds
 * (Node's hrtime is CLOCK_MONOTONIC, the clock systemd's timestamps use).
 * @module
 */

import type { Clock, Disposable } from '../core/ports.ts'

export class SystemClock implements Clock {
  realtimeUsec(): bigint {
    return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000))
  }

  monotonicUsec(): bigint {
    return process.hrtime.bigint() / 1000n
  }

  setTimeout(callback: () => void, ms: number): Disposable {
    const t = setTimeout(callback, ms)
    t.unref()
    return { dispose: () => clearTimeout(t) }
  }
}
