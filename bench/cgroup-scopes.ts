/**
 * What a scope costs the daemon when it makes the scope itself (no systemd
 * as PID 1): CgroupUnits.createScope() for a fresh leader, then release()
 * once the leader is gone, timed per pair, with and without the v1 memory
 * and pids hierarchies that accounting puts every scope in on a hybrid
 * host (the layout without them is this host's with those two left out).
 * The two variants alternate round by round, so both see the same load.
 *
 *   sudo node --import tsx bench/cgroup-scopes.ts [--pairs=300] [--rounds=6]
 *
 * Scopes are named machined-bench-scope-<pid>-<i>.scope; every one is gone
 * at the end (release() removes it), and the leaders are this run's
 * children. Figures go to stdout and bench/results/cgroup-scopes.json.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { CgroupUnits } from '../src/backends/cgroup-units.ts'
import { ProcfsProcesses } from '../src/backends/procfs.ts'
import type { Log } from '../src/core/ports.ts'
import { defaultScopeSettings } from '../src/core/scope-properties.ts'
import { detectCgroupLayout, type CgroupLayout } from '../src/linux/cgroup-layout.ts'

const { values } = parseArgs({ options: { pairs: { type: 'string', default: '300' }, rounds: { type: 'string', default: '6' } } })
const PAIRS = Number(values.pairs)
const ROUNDS = Number(values.rounds)
const quiet: Log = { debug() {}, info() {}, warn() {}, error() {} }

const host = detectCgroupLayout()
if (host === undefined) throw new Error('no cgroup hierarchy is mounted')
if (host.memoryV1 === undefined && host.pidsV1 === undefined) console.log('this host has no v1 memory or pids hierarchy: both variants are the same')
const variants: Record<string, CgroupLayout> = {
  'tracking only (before)': { ...host, memoryV1: undefined, pidsV1: undefined },
  'with v1 memory and pids': host,
}

const runtime = mkdtempSync(join(tmpdir(), 'bench-cgroup-scopes-'))
const processes = new ProcfsProcesses({ pidfds: false })
let serial = 0

function startLeader(): Promise<ChildProcess> {
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' })
  return new Promise((resolve, reject) => { child.once('spawn', () => resolve(child)); child.once('error', reject) })
}

/** One round: PAIRS leaders started first (not timed), then createScope and, after the leader is killed, release, timed per pair. */
async function round(layout: CgroupLayout): Promise<number[]> {
  const units = new CgroupUnits({ layout, runtimeDir: join(runtime, String(++serial)), log: quiet })
  const leaders = await Promise.all(Array.from({ length: PAIRS }, startLeader))
  const times: number[] = []
  try {
    for (const child of leaders) {
      const leader = (await processes.pin(child.pid!))!
      const unit = `machined-bench-scope-${process.pid}-${++serial}.scope`
      const t0 = performance.now()
      const ref = await units.createScope({ unit, description: 'bench', leader, settings: defaultScopeSettings() })
      const made = performance.now() - t0
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGKILL')
      await exited
      const t1 = performance.now()
      await units.release(ref)
      times.push(made + (performance.now() - t1))
    }
  } finally {
    for (const c of leaders) c.kill('SIGKILL')
    units.dispose()
  }
  return times
}

const results: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]))
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, layout] of r % 2 === 0 ? Object.entries(variants) : Object.entries(variants).reverse()) results[name]!.push(...(await round(layout)))
  }
} finally {
  rmSync(runtime, { recursive: true, force: true })
}

const summary: Record<string, { median: number; p95: number; mean: number }> = {}
for (const [name, times] of Object.entries(results)) {
  const sorted = [...times].sort((a, b) => a - b)
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!
  summary[name] = { median: at(0.5), p95: at(0.95), mean: times.reduce((a, b) => a + b, 0) / times.length }
  console.log(`${name.padEnd(26)} createScope+release per scope: median ${(summary[name].median * 1000).toFixed(0)} µs, p95 ${(summary[name].p95 * 1000).toFixed(0)} µs, mean ${(summary[name].mean * 1000).toFixed(0)} µs (${times.length} scopes)`)
}
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true })
writeFileSync(join(import.meta.dirname, 'results', 'cgroup-scopes.json'), `${JSON.stringify({ host: host.kind, pairs: PAIRS, rounds: ROUNDS, summary }, null, 2)}\n`)
