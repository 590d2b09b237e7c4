// Small helpers every bench script uses (logging, sleeping, running
// commands, medians) and the places they share.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..')
export const REPO = dirname(BENCH_DIR)
export const REAL_MACHINED = '/lib/systemd/systemd-machined'

export function log(msg) {
  process.stderr.write(`[bench] ${msg}\n`)
}

export function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export function readText(path) {
  try { return readFileSync(path, 'utf8') } catch { return undefined }
}

export function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { encoding: 'utf8', ...opts })
}

export function which(cmd) {
  const r = run('sh', ['-c', `command -v ${cmd}`])
  return r.status === 0 ? r.stdout.trim() : undefined
}

export function median(values) {
  const v = [...values].sort((a, b) => a - b)
  return v.length === 0 ? undefined : v[Math.floor((v.length - 1) / 2)]
}

/** A whole-number option of parseArgs() `values`, at least `min`; throws a one-line Error otherwise. */
export function wholeNumber(values, name, min) {
  const n = Number(values[name])
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} wants a whole number ≥ ${min}, got ${values[name]}`)
  return n
}
