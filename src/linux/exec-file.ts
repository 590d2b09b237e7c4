/**
 * `execFile()` as a promise (what `promisify(execFile)` gives: the output
 * as text; on failure the Error carries `stdout` and `stderr`), with
 * node:child_process loaded at the first command rather than when the
 * program starts. machined-spawn on a directory tree runs no command on
 * its way to the container, and loading node:child_process (with the
 * node:dgram and node:net parts it pulls in) is about 1.3 ms of its start.
 * @module
 */

import type { ExecFileOptions } from 'node:child_process'

export interface ExecFileResult {
  readonly stdout: string
  readonly stderr: string
}

export function execFileAsync(file: string, args: readonly string[], options: ExecFileOptions = {}): Promise<ExecFileResult> {
  return new Promise((resolve, reject) => {
    process.getBuiltinModule('node:child_process').execFile(file, args, { ...options, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) { resolve({ stdout, stderr }); return }
      const failure: Error = Object.assign(err, { stdout, stderr })
      reject(failure)
    })
  })
}
