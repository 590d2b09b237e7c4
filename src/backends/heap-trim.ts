/**
 * Gives the C heap's free pages back to the kernel every few seconds
 * (malloc_trim(0) through the native module). glibc returns memory only
 * from the top of its heap; after a burst of calls the freed chunks in
 * between stay in the daemon's RSS (about 30 MiB with 10,000 machines
 * registered in bulk). A trim takes about a millisecond.
 * @module
 */

import type { Disposable } from '../core/ports.ts'
import { mallocTrim } from './native.ts'

export const HEAP_TRIM_MS = 5_000

export function startHeapTrim(log: { debug(message: string, fields?: Record<string, unknown>): void }, everyMs = HEAP_TRIM_MS): Disposable {
  const timer = setInterval(() => {
    try {
      mallocTrim()
    } catch (err) {
      // No native module (or not glibc's): nothing to trim with; stop asking.
      log.debug('Cannot trim the C heap, not trying again', { error: String(err) })
      clearInterval(timer)
    }
  }, everyMs)
  timer.unref()
  return { dispose: () => clearInterval(timer) }
}
