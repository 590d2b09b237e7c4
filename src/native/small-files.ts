/**
 * Many small files read in one piece of work off the JavaScript thread
 * (native/addon/read_files.c): at start-up, /proc/PID/cgroup of every
 * leader on file, which the kernel makes up on another CPU while the
 * daemon's thread goes on. Like addon.ts it imports nothing outside
 * src/native.
 * @module
 */

import { loadAddon } from './addon.ts'

interface SmallFilesAddon {
  readSmallFiles(paths: readonly string[], max: number, callback: (err: Error | undefined, results: (string | number)[]) => void): void
}

/**
 * Each path's text (UTF-8), or the errno that kept it from being read
 * (EFBIG: longer than `max` bytes), in the order of `paths`. Each file is
 * read until its end, as a /proc file must be. At most 2²⁰ paths and
 * `max` at most 1 MiB per call; rejects only when memory ran out.
 */
export function readSmallFiles(paths: readonly string[], max: number): Promise<(string | number)[]> {
  return new Promise((resolve, reject) => {
    loadAddon<SmallFilesAddon>().readSmallFiles(paths, max, (err, results) => {
      if (err !== undefined) reject(err)
      else resolve(results)
    })
  })
}
