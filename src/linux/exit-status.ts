/**
 * How a launcher run by machined-ts's supervisor tells it how it ended,
 * even when the supervisor that started it has been restarted meanwhile
 * (and so is no longer its parent, which alone would learn its exit status
 * from the kernel): the supervisor names a file in $MACHINED_TS_EXIT_STATUS_FILE,
 * and the launcher (bin/machined-spawn.js, bin/machined-vmspawn.js) writes
 * its exit code there, one decimal line, as it exits. A launcher killed by
 * a signal writes nothing, which the supervisor reads as a failure.
 * @module
 */

import { writeFileSync } from 'node:fs'

export const EXIT_STATUS_ENV = 'MACHINED_TS_EXIT_STATUS_FILE'

/** Takes the file's name out of the environment (nothing started later inherits it). */
export function takeExitStatusFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const path = env[EXIT_STATUS_ENV]
  delete env[EXIT_STATUS_ENV]
  return path !== undefined && path.startsWith('/') ? path : undefined
}

/** Writes `code` to the file, if one was named; a failure to write is not the launcher's failure. */
export function recordExitStatus(path: string | undefined, code: number): void {
  if (path === undefined) return
  try {
    writeFileSync(path, `${code}\n`, { mode: 0o644 })
  } catch {
    // The supervisor then reads the run as failed, which is the safe side.
  }
}

/** The code in a file recordExitStatus() wrote; undefined when there is none (or it is garbage). */
export function parseExitStatus(text: string): number | undefined {
  const m = /^(\d{1,3})\n?$/.exec(text)
  return m === null ? undefined : Number(m[1])
}
