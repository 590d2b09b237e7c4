// The processes of a bench run: the python3-dbus agent (client and keeper
// of leaders, bench/agent.py), daemons under `setpriv --pdeathsig KILL`,
// and what is left in the run's mount namespace.
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { BENCH_DIR, log, readText, run, sleep, which } from './common.js'

const CLK_TCK = 100

export function findPython() {
  for (const py of ['/usr/bin/python3', which('python3')]) {
    if (py === undefined || !existsSync(py)) continue
    const r = run(py, ['-c', 'import dbus; print(dbus.__version__)'])
    if (r.status === 0) return { path: py, dbusVersion: r.stdout.trim() }
  }
  return undefined
}


export class Agent {
  #child
  #lines
  #waiters = []
  #exited = false

  constructor(python) {
    this.#child = spawn(python, [join(BENCH_DIR, 'agent.py')], { stdio: ['pipe', 'pipe', 'inherit'] })
    this.#lines = createInterface({ input: this.#child.stdout })
    this.#lines.on('line', (line) => this.#waiters.shift()?.resolve(JSON.parse(line)))
    this.#child.on('exit', (code, sig) => {
      this.#exited = true
      for (const w of this.#waiters.splice(0)) w.reject(new Error(`agent exited (${code ?? sig})`))
    })
  }

  get pid() { return this.#child.pid }

  async call(op, args = {}) {
    if (this.#exited) throw new Error('agent is gone')
    const reply = await new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject })
      this.#child.stdin.write(`${JSON.stringify({ op, ...args })}\n`)
    })
    if (!reply.ok) throw new Error(`agent ${op}: ${reply.error}`)
    return reply
  }

  async quit() {
    if (this.#exited) return
    const gone = new Promise((r) => this.#child.once('exit', r))
    await this.call('quit').catch(() => undefined)
    this.#child.stdin.end()
    await Promise.race([gone, sleep(10_000)])
    if (!this.#exited) this.#child.kill('SIGKILL')
  }
}

/** A child process under `setpriv --pdeathsig KILL`, so it dies with us whatever happens. */
export class Proc {
  constructor(name, argv, env) {
    this.name = name
    this.stderr = ''
    this.child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env })
    this.child.stderr.on('data', (c) => { this.stderr = (this.stderr + c.toString()).slice(-65536) })
    this.exited = new Promise((r) => this.child.once('exit', (code, sig) => r(code ?? sig)))
  }

  get pid() { return this.child.pid }

  async waitStdout(pattern, ms) {
    let seen = ''
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ${pattern} within ${ms} ms; stderr: ${this.stderr}`)), ms)
      this.child.stdout.on('data', (c) => {
        seen += c.toString()
        const m = pattern.exec(seen)
        if (m !== null) { clearTimeout(timer); resolve(m) }
      })
      this.exited.then((c) => { clearTimeout(timer); reject(new Error(`${this.name} exited (${c}); stderr: ${this.stderr}`)) })
    })
  }

  /** CPU seconds used so far, all threads: cpuSeconds(). */
  cpu() {
    return cpuSeconds(this.pid)
  }

  /** Seconds the main thread waited for a CPU: mainThreadWaitSeconds(). */
  mainWait() {
    return mainThreadWaitSeconds(this.pid)
  }

  /** CPU seconds of the main thread alone: mainThreadCpuSeconds(). */
  mainCpu() {
    return mainThreadCpuSeconds(this.pid)
  }

  /** VmRSS and VmHWM, and RSS split into anonymous memory (heaps) and file pages (code, mapped libraries). */
  memory() {
    const status = readText(`/proc/${this.pid}/status`) ?? ''
    const kib = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN)
    return {
      rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024,
      rssAnonMiB: kib('RssAnon') / 1024, rssFileMiB: kib('RssFile') / 1024, fds: countFds(this.pid),
    }
  }

  async stop(ms = 15_000) {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.kill('SIGTERM')
    const r = await Promise.race([this.exited.then(() => 'exited'), sleep(ms).then(() => 'timeout')])
    if (r === 'timeout') {
      log(`${this.name} did not stop within ${ms} ms; SIGKILL`)
      this.child.kill('SIGKILL')
      await this.exited
    }
  }
}

/**
 * CPU seconds a process has used so far, all its threads: the scheduler's
 * own nanosecond count (/proc/PID/task/TID/schedstat, first field) where
 * the kernel keeps one, else utime + stime in clock ticks (10 ms steps,
 * coarse for a round of a few hundred milliseconds).
 */
export function cpuSeconds(pid) {
  let ns = 0
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) ns += threadCpuNs(pid, tid) ?? 0
    if (ns > 0) return ns / 1e9
  } catch { /* gone, or no schedstat: the ticks below */ }
  const stat = readText(`/proc/${pid}/stat`)
  if (stat === undefined) return undefined
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / CLK_TCK
}

/**
 * CPU seconds of the process's main thread (the one whose TID is its PID)
 * alone: for Node, the event loop and what runs on it, without V8's
 * compiler and garbage-collector helpers or libuv's thread pool. Both
 * daemons' calls are served on their main thread; systemd-machined has no
 * other.
 */
export function mainThreadCpuSeconds(pid) {
  const ns = threadCpuNs(pid, pid)
  return ns === undefined ? undefined : ns / 1e9
}

/**
 * Seconds the main thread has waited, runnable, for a CPU (the second
 * field of its schedstat): on a machine with two CPUs, the time another
 * process or thread had the CPU this thread could have run on.
 */
export function mainThreadWaitSeconds(pid) {
  const ns = threadSchedNs(pid, pid, 1)
  return ns === undefined ? undefined : ns / 1e9
}

/** One thread's CPU nanoseconds so far, the first field of its schedstat; undefined when it is gone or has none. */
function threadCpuNs(pid, tid) {
  return threadSchedNs(pid, tid, 0)
}

/** Field `i` of a thread's schedstat (0: ns on a CPU, 1: ns waiting for one); undefined when it is gone or has none. */
function threadSchedNs(pid, tid, i) {
  const s = readText(`/proc/${pid}/task/${tid}/schedstat`)
  return s === undefined ? undefined : Number(s.split(' ')[i])
}

function countFds(pid) {
  try { return readdirSync(`/proc/${pid}/fd`).length } catch { return undefined }
}

export function processesInNamespace(ns) {
  const out = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    try { if (readlinkSync(`/proc/${name}/ns/mnt`) === ns) out.push(Number(name)) } catch { /* gone */ }
  }
  return out
}
