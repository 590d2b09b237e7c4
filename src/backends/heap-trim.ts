/**
 * Hands memory the daemon no longer uses back to the kernel, while the
 * daemon is idle, so that this work never holds up a call:
 *
 * - the C heap's free pages (malloc_trim(0) through the native module):
 *   glibc returns memory only from the top of its heap; after a burst of
 *   calls the freed chunks in between stay in the daemon's RSS (about
 *   30 MiB with 10,000 machines registered in bulk);
 * - the pages of the node binary mapped in the process but not in use
 *   (the native module's releaseExecutablePages(): start-up alone maps
 *   about 40 MiB of it; they stay in the page cache, and a page used
 *   again comes back on its next touch);
 * - caches the daemon can make again (forgetCaches: the marshalled
 *   ListMachines reply), before the collection that frees them.
 *
 * Every second the event loop's utilisation since the last look says
 * whether the daemon was idle; the work runs after an idle second, and at
 * most every TRIM_MS, or regardless once OVERDUE_MS have passed without
 * it. Each run takes about a millisecond.
 * @module
 */

import { performance } from 'node:perf_hooks'
import { getHeapStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Disposable } from '../core/ports.ts'
import { mallocTrim, releaseExecutablePages } from './native.ts'

/**
 * V8's full collection, run here while idle: after a burst (10,000
 * registrations) the old generation holds the burst's promoted garbage
 * until a collection that a quiet daemon may not get for a long time, and
 * one that then comes during a call makes that call wait. --expose-gc
 * set at run time gives a fresh context its gc().
 *
 * It compacts the old generation as well (--compact-on-every-full-gc, for
 * this collection only: V8 reads the flag when the collection starts).
 * Without it the survivors of a burst stay spread over the pages they
 * were promoted to, and the free space between them stays in the RSS:
 * about 4 MiB with 10,000 machines registered in bulk. Compacting costs
 * this collection some more milliseconds (20 to 45 here, with 10,000
 * machines), while idle.
 */
function fullCollection(): () => void {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  return () => {
    setFlagsFromString('--compact-on-every-full-gc')
    try {
      gc()
    } finally {
      setFlagsFromString('--no-compact-on-every-full-gc')
    }
  }
}

/** A collection is worth its few milliseconds once the heap has grown this much since the last one. */
const GC_GROWTH_BYTES = 2 * 1024 * 1024
/** Or once the caches let go of this much outside the heap (a Buffer's memory goes when a collection finds it unused). */
const GC_RELEASED_BYTES = 512 * 1024

export const TRIM_MS = 5_000
const LOOK_MS = 1_000
const OVERDUE_MS = 60_000
/** Below this share of the last second spent outside the event loop's wait, the daemon counts as idle. */
const IDLE_UTILISATION = 0.02

export interface HeapTrimOptions {
  /** Drops caches the daemon can make again, while idle; returns the bytes they held. */
  readonly forgetCaches?: () => number
}

export function startHeapTrim(log: { debug(message: string, fields?: Record<string, unknown>): void }, options: HeapTrimOptions = {}): Disposable {
  let last = performance.eventLoopUtilization()
  let trimmedAt = -Infinity
  let stopped = false
  const gc = fullCollection()
  let heapAfterGc = getHeapStatistics().used_heap_size
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization()
    const idle = performance.eventLoopUtilization(now, last).utilization < IDLE_UTILISATION
    last = now
    const since = performance.now() - trimmedAt
    if (since < TRIM_MS || (!idle && since < OVERDUE_MS)) return
    trimmedAt = performance.now()
    const released = options.forgetCaches?.() ?? 0
    if (getHeapStatistics().used_heap_size > heapAfterGc + GC_GROWTH_BYTES || released >= GC_RELEASED_BYTES) {
      gc()
      heapAfterGc = getHeapStatistics().used_heap_size
    }
    try {
      mallocTrim()
      releaseExecutablePages()
    } catch (err) {
      // No native module (or not glibc's): nothing to trim with; stop asking.
      log.debug('Cannot trim the heap, not trying again', { error: String(err) })
      stop()
    }
  }, LOOK_MS)
  timer.unref()
  const stop = (): void => {
    if (stopped) return
    stopped = true
    clearInterval(timer)
  }
  return { dispose: stop }
}
