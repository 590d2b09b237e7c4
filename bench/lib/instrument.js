// A load-independent measure of a daemon's work, for developing on a shared
// machine where wall-clock and CPU-time figures swing with the load:
// `perf trace -s` attached to the daemon during a phase counts the system
// calls of each kind it made (bench/run.js --syscalls).
//
// Instruction counts (valgrind's callgrind) would be the other such
// measure, but valgrind 3.19 (Debian 12) does not know pidfd_open and
// pidfd_send_signal: machined-ts would fall back to PIDs under it, so
// the counts would be of another code path.
import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { BENCH_DIR, sleep } from './common.js'

/** A `perf` command attached to a process until stop(); perf needs a moment to attach to every thread. */
class Attached {
  #child
  #done
  output = ''

  constructor(args) {
    this.#child = spawn('perf', args, { stdio: ['ignore', 'ignore', 'pipe'] })
    this.#child.stderr.on('data', (c) => { this.output += c.toString() })
    this.#done = new Promise((resolve) => this.#child.once('exit', resolve))
  }

  async ready() {
    await sleep(300)
  }

  async detach() {
    this.#child.kill('SIGINT')
    await this.#done
  }
}

/** `perf trace -s` on a process (all its threads) until stop(), which resolves to { total, byCall }. */
export class SyscallCount extends Attached {
  constructor(pid) {
    super(['trace', '-s', '-p', String(pid)])
  }

  async stop() {
    await this.detach()
    const byCall = {}
    let total = 0
    // One table per thread: "   syscall   calls  errors  total  min  avg  max  stddev".
    for (const line of this.output.split('\n')) {
      const m = /^\s+([a-z_0-9]+)\s+(\d+)\s+(\d+)\s+[\d.]+/.exec(line)
      if (m === null) continue
      byCall[m[1]] = (byCall[m[1]] ?? 0) + Number(m[2])
      total += Number(m[2])
    }
    return { total, byCall }
  }
}

/**
 * `perf record -e cpu-clock` on a process while running: samples only while
 * it is on a CPU (kernel and user space alike), so unlike V8's --cpu-prof
 * (which samples wall time, and counts the time the daemon waits to be
 * scheduled again after waking the bus) it shows where its CPU time goes.
 * Node needs --perf-basic-prof for JavaScript frames to have names.
 * bench/perf-summary.js sums the samples up.
 */
export class CpuSamples extends Attached {
  constructor(pid, file) {
    super(['record', '-q', '-e', 'cpu-clock', '-F', '4000', '-g', '-p', String(pid), '-o', file])
    this.file = file
  }

  async stop() {
    await this.detach()
    return this.file
  }
}

export const PERF_DIR = join(BENCH_DIR, 'results', 'perf')

export function perfDataFile(kind, phase) {
  mkdirSync(PERF_DIR, { recursive: true })
  return join(PERF_DIR, `${kind}.${phase}.data`)
}
