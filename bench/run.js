#!/usr/bin/env node
// Benchmark: machined-ts against the real systemd-machined on one private
// bus. See bench/README.md. Run as root: `node bench/run.js` (--help).
//
// Layout of a run:
//   outer process   checks prerequisites, builds, re-execs itself inside
//                   `unshare -m --propagation private`, and afterwards kills
//                   and removes whatever the run left in the cgroup tree.
//   inner process   mounts a tmpfs on /run, makes the leaders, then for each
//                   daemon in turn: a fresh dbus-daemon, the daemon, the
//                   measurements, and a full stop. Prints the table and
//                   writes bench/results/latest.json.
//   bench/agent.py  the D-Bus client (python3-dbus) and keeper of leaders.
import { closeSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { cgroupMounts, subdirs } from './lib/cgroups.js'
import { BENCH_DIR, REAL_MACHINED, log, median, readText, sleep } from './lib/common.js'
import { DAEMONS, HEAP_DIR, startDaemon, stopDaemon } from './lib/daemons.js'
import { machineInfo, memAvailableKiB } from './lib/host.js'
import { CpuSamples, perfDataFile, SyscallCount } from './lib/instrument.js'
import {
  agentInPool, cleanUpOnSignal, enterPrivateRun, innerContext, isInner, outerRun, publishResults, stopAndClean,
} from './lib/isolation.js'
import { findPython } from './lib/processes.js'


const HELP = `node bench/run.js [OPTIONS]

Register+Unregister pairs per second and ListMachines latency of machined-ts
and of ${REAL_MACHINED}, one after the other on the same private bus.
Must run as root. Touches nothing of the host: a private mount namespace
with a tmpfs on /run; every cgroup and process it makes is removed.

Options:
  --pairs=N          Register+Unregister pairs per round (default 1000)
  --rounds=N         Rounds of pairs; the median round is reported (default 3)
  --warmup=N         Warm-up pairs before the rounds (default 100)
  --machines=A,B     Registered-machine counts for ListMachines (default 1000,10000)
  --list-calls=N     Timed ListMachines calls per count (default 200)
  --list-warmup=N    Untimed ListMachines calls first (default 20)
  --window=N         Calls in flight while registering in bulk (default 32)
  --only=WHICH       systemd | ts | both (default both); or memory: machined-ts's
                     memory rows alone, quickly (--only=ts --pairs=0 --no-extras
                     --machines=10000, unless given)
  --no-extras        Only the headline metrics (skip pairs with all machines
                     registered and machined-ts making its own scopes)
  --profile          Run machined-ts under --cpu-prof; profiles go to
                     bench/results/profiles/ (summarise with
                     node bench/profile-summary.js FILE)
  --heap-snapshot    At start (after the RSS is read) and with the machines
                     registered (after the idle RSS is read), make
                     machined-ts write a V8 heap snapshot to
                     bench/results/heap/ (summarise with
                     node bench/heap-summary.js FILE)
  --smaps            Copy machined-ts's /proc/PID/smaps (which mappings its RSS
                     is in) to bench/results/heap/ where the RSS is read at
                     start and with the machines after 3 s idle
  --syscalls         Count each daemon's system calls per step (perf trace -s)
  --perf-record      Sample each daemon's on-CPU time per step (perf record -e
                     cpu-clock; machined-ts with --perf-basic-prof) into
                     bench/results/perf/DAEMON.STEP.data (perf report -i FILE)
  --no-build         Do not run \`tsc -p tsconfig.build.json\` first
  --json=FILE        Where to write results (default bench/results/latest.json)
  -h, --help         Show this help
`

// ── Machine counts ──────────────────────────────────────────────────────────

/**
 * The largest machine count this host can take: each needs its own leader
 * process (systemd-machined refuses a PID that already leads a machine).
 */
function feasibleMachines(wanted, extraProcs) {
  const pidMax = Number(readText('/proc/sys/kernel/pid_max') ?? 32768)
  const threadsMax = Number(readText('/proc/sys/kernel/threads-max') ?? Infinity)
  const running = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length
  // Leave a quarter of the PID space (at least 2,000) to the rest of the host.
  const margin = Math.max(2000, Math.floor(pidMax / 4))
  const byPids = Math.min(pidMax, threadsMax) - running - margin - extraProcs
  const memKiB = memAvailableKiB() ?? Infinity
  // ~210 KiB per `sleep` measured here, plus cgroups; count 512 KiB and keep 2 GiB free.
  const byMem = Math.floor((memKiB - 2 * 2 ** 20) / 512)
  const max = Math.max(0, Math.min(byPids, byMem))
  const reasons = []
  if (byPids < wanted) reasons.push(`pid_max ${pidMax} (threads-max ${threadsMax}) with ${running} processes running and ${margin} PIDs kept free allows ${byPids} leaders`)
  if (byMem < wanted) reasons.push(`MemAvailable ${Math.round(memKiB / 1024)} MiB allows ${byMem} leaders at 512 KiB each`)
  return { max, reasons, pidMax, running }
}

// ── Outer process ──────────────────────────────────────────────────────────

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      pairs: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '100' },
      machines: { type: 'string', default: '1000,10000' },
      'list-calls': { type: 'string', default: '200' },
      'list-warmup': { type: 'string', default: '20' },
      window: { type: 'string', default: '32' },
      only: { type: 'string', default: 'both' },
      profile: { type: 'boolean', default: false },
      syscalls: { type: 'boolean', default: false },
      'perf-record': { type: 'boolean', default: false },
      'heap-snapshot': { type: 'boolean', default: false },
      smaps: { type: 'boolean', default: false },
      'no-extras': { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      json: { type: 'string', default: join(BENCH_DIR, 'results', 'latest.json') },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const int = (name) => {
    const n = Number(values[name])
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} wants a whole number, got ${values[name]}`)
    return n
  }
  // The memory rows alone: machined-ts, no pairs rounds, no extras, straight to 10,000 machines.
  const memoryOnly = values.only === 'memory'
  if (memoryOnly) {
    values.only = 'ts'
    const given = (name) => argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`))
    if (!given('pairs')) values.pairs = '0'
    if (!given('machines')) values.machines = '10000'
    values['no-extras'] = true
  }
  const machines = values.machines.split(',').map(Number)
  if (machines.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--machines wants counts like 1000,10000`)
  machines.sort((a, b) => a - b)
  if (!['systemd', 'ts', 'both'].includes(values.only)) throw new Error('--only is systemd, ts, both or memory')
  const window = int('window')
  if (window < 1 || window > 100) throw new Error('--window must be 1…100 (machined-ts refuses more than 128 calls in flight per sender)')
  return {
    help: values.help,
    pairs: int('pairs'), rounds: Math.max(1, int('rounds')), warmup: int('warmup'), machines,
    listCalls: Math.max(1, int('list-calls')), listWarmup: int('list-warmup'), window,
    daemons: values.only === 'both' ? ['systemd', 'ts'] : [values.only],
    profile: values.profile, syscalls: values.syscalls, perfRecord: values['perf-record'], heapSnapshot: values['heap-snapshot'], smaps: values.smaps, extras: !values['no-extras'], build: !values['no-build'], json: values.json,
  }
}

function outer(argv) {
  return outerRun(fileURLToPath(import.meta.url), argv, {
    parseOptions, help: HELP, commands: [], build: (opts) => opts.build && opts.daemons.includes('ts'), builtFile: 'dist/daemon/main.js',
  })
}

// ── Inner process ──────────────────────────────────────────────────────────

/** Measures one daemon. `world` holds the leaders shared by both daemons. */
async function measureDaemon(kind, opts, world, agent, procs) {
  const out = { daemon: DAEMONS[kind].label }
  const started = await startDaemon(kind, { agent, procs, profile: opts.profile, perfMap: opts.perfRecord, heapSnapshot: kind === 'ts' && opts.heapSnapshot })
  const { bus, daemon } = started
  // Before any machine, for the per-machine increment: measured as the idle row below is, after 3 s without calls.
  await sleep(3000)
  out.memoryAtStart = daemon.memory()
  if (kind === 'ts' && opts.smaps) saveSmaps(daemon, 'start')
  if (kind === 'ts' && opts.heapSnapshot) {
    out.memoryAtStart.heapSnapshot = await heapSnapshot(daemon)
    log(`${out.daemon}: heap snapshot at start ${out.memoryAtStart.heapSnapshot}`)
  }
  try {
    // Machine names: bench<tag><letters><i>, e.g. bench4242m17.
    const n = (prefix, from, count) => Array.from({ length: count }, (_, i) => `bench${world.tag}${prefix}${from + i}`)
    // Each step is a phase: CPU used by the daemon and the bus during it, and
    // its CLOCK_MONOTONIC window (the clock of V8's profiler: profile-summary.js --phase).
    out.phases = []
    const withCpu = async (phase, fn) => {
      const syscalls = opts.syscalls ? new SyscallCount(daemon.pid) : undefined
      const samples = opts.perfRecord ? new CpuSamples(daemon.pid, perfDataFile(kind, phase)) : undefined
      await syscalls?.ready()
      await samples?.ready()
      const d0 = daemon.cpu(); const m0 = daemon.mainCpu(); const b0 = bus.cpu()
      const startUs = Number(process.hrtime.bigint() / 1000n)
      const r = await fn()
      out.phases.push({ name: phase, startUs, endUs: Number(process.hrtime.bigint() / 1000n) })
      const counted = { daemon_cpu_s: daemon.cpu() - d0, daemon_main_cpu_s: daemon.mainCpu() - m0, bus_cpu_s: bus.cpu() - b0 }
      if (syscalls !== undefined) counted.daemon_syscalls = await syscalls.stop()
      if (samples !== undefined) counted.perf_data = await samples.stop()
      return { ...r, ...counted }
    }
    const pairs = async (phase, prefix, leaders, warmupLeaders) => {
      const r = await withCpu(phase, () => agent.call('pairs', {
        names: n(prefix, 0, opts.pairs), leaders,
        warmup_names: n(`${prefix}w`, 0, opts.warmup), warmup_leaders: warmupLeaders,
      }))
      delete r.ok
      return r
    }

    // (1) Register+Unregister pairs, nothing else registered, leader in a pre-made scope.
    out.pairs = []
    for (let round = 0; round < (opts.pairs > 0 ? opts.rounds : 0); round++) {
      const r = await pairs(`pairs-${round + 1}`, `p${String.fromCharCode(97 + (round % 26))}`, [world.pairLeader], [world.pairLeader])
      out.pairs.push(r)
      log(`${out.daemon}: pairs round ${round + 1}: ${r.pairs_per_s.toFixed(0)} pairs/s`)
    }

    // (2) ListMachines with 1,000 and 10,000 machines, registered in bulk (pipelined).
    out.list = {}
    out.register = {}
    let registered = 0
    let attempted = 0
    for (const count of world.machines) {
      const names = n('m', registered, count - registered)
      const reg = await withCpu(`register-${count}`, () => agent.call('register_many', { names, leaders: world.leaders.slice(registered, count), window: opts.window }))
      delete reg.ok
      out.register[count] = reg
      log(`${out.daemon}: registered ${registered} → ${count} machines at ${reg.calls_per_s.toFixed(0)} calls/s (${reg.errors} errors)`)
      attempted = count
      if (reg.errors > 0) {
        out.list[count] = { error: `RegisterMachine failed ${reg.errors} times: ${JSON.stringify(reg.error_samples)}` }
        registered = count - reg.errors
        break
      }
      registered = count
      const l = await withCpu(`list-${count}`, () => agent.call('list', { calls: opts.listCalls, warmup: opts.listWarmup, expect: count + 1 }))
      delete l.ok
      out.list[count] = l
      log(`${out.daemon}: ListMachines with ${count}: median ${l.median_ms.toFixed(3)} ms, p95 ${l.p95_ms.toFixed(3)} ms`)
    }
    out.memoryWithMachines = { machines: registered, ...daemon.memory() }
    // And once the daemon has been left alone for a moment (idle-time work, such as machined-ts's heap trim, has run).
    await sleep(3000)
    out.memoryIdleWithMachines = { machines: registered, ...daemon.memory() }
    if (kind === 'ts' && opts.smaps) saveSmaps(daemon, `idle-${registered}`)
    if (kind === 'ts' && opts.heapSnapshot) {
      out.memoryWithMachines.heapSnapshot = await heapSnapshot(daemon)
      log(`${out.daemon}: heap snapshot ${out.memoryWithMachines.heapSnapshot}`)
    }

    // Extra: pairs while all those machines stay registered.
    if (registered > 0 && opts.extras && opts.pairs > 0) {
      out.pairsLoaded = await pairs('pairs-loaded', 'q', [world.pairLeader], [world.pairLeader])
      out.pairsLoaded.registered = registered
      log(`${out.daemon}: pairs with ${registered} registered: ${out.pairsLoaded.pairs_per_s.toFixed(0)} pairs/s`)
    }
    const unreg = await withCpu('unregister-all', () => agent.call('unregister_many', { names: n('m', 0, attempted), window: opts.window }))
    delete unreg.ok
    out.unregister = { machines: registered, ...unreg }
    if (unreg.errors > 0) log(`${out.daemon}: UnregisterMachine failed ${unreg.errors} times: ${JSON.stringify(unreg.error_samples)}`)

    // Extra, machined-ts only: leaders in no scope, machined-ts makes machine-<name>.scope itself.
    if (kind === 'ts' && opts.pairs > 0 && opts.extras) {
      const fresh = await agent.call('spawn', { count: opts.pairs + opts.warmup })
      const warm = fresh.pids.slice(0, opts.warmup)
      const timed = fresh.pids.slice(opts.warmup)
      const r = await withCpu('pairs-own-scopes', () => agent.call('pairs', {
        names: n('u', 0, opts.pairs), leaders: timed, warmup_names: n('uw', 0, opts.warmup), warmup_leaders: warm,
      }))
      delete r.ok
      out.pairsOwnScopes = r
      log(`${out.daemon}: pairs creating its own scopes: ${r.pairs_per_s.toFixed(0)} pairs/s`)
      await agent.call('kill', { pids: fresh.pids })
      // machined-ts removes a released scope once it is empty; give it a moment, then count.
      const re = new RegExp(`^machine-bench${world.tag}u`)
      const own = () => world.roots.reduce((s, root) => s + subdirs(join(root, 'machine.slice')).filter((d) => re.test(d.split('/').pop())).length, 0)
      for (let i = 0; i < 100 && own() > 0; i++) await sleep(50)
      r.scopesLeftAfterLeadersDied = own()
    }

    const files = readdirSafe('/run/systemd/machines')
    if (files.length > 0) out.stateFilesLeft = files.length
  } finally {
    Object.assign(out, await stopDaemon(started))
  }
  return out
}

function readdirSafe(dir) {
  try { return readdirSync(dir) } catch { return [] }
}

async function inner(argv) {
  const { tag, sliceExisted } = innerContext()
  const opts = parseOptions(argv)
  const mounts = cgroupMounts()
  const roots = mounts.tracking
  const py = findPython()
  const procs = new Set()
  let agent
  cleanUpOnSignal(procs, tag, sliceExisted)

  const results = {
    machine: machineInfo(),
    client: { kind: 'python3-dbus (libdbus) low-level Message API, blocking calls', python: py.path, dbusPython: py.dbusVersion },
    cgroupLayout: mounts.unified !== undefined && mounts.systemdV1 !== undefined ? 'hybrid' : mounts.unified !== undefined ? 'unified' : 'legacy',
    options: { ...opts, help: undefined, json: undefined },
    notes: [],
    daemons: {},
  }
  let code = 0
  try {
    enterPrivateRun()

    // How many machines this host can hold (one leader process each).
    const extra = 1 + (opts.daemons.includes('ts') && opts.extras ? opts.pairs + opts.warmup : 0) + 200
    const feas = feasibleMachines(opts.machines.at(-1), extra)
    let machines = opts.machines.filter((c) => c <= feas.max)
    if (machines.length < opts.machines.length) {
      machines.push(feas.max)
      machines = [...new Set(machines)].filter((c) => c > 0)
      const note = `Wanted ${opts.machines.at(-1)} machines; measured up to ${feas.max} instead: ${feas.reasons.join('; ')}`
      results.notes.push(note)
      log(note)
    }

    // The pool every leader is born in (the agent moves itself there first).
    agent = await agentInPool(py.path, roots, tag)

    // Leaders: one per machine, each alone in machine.slice/bench-<tag>-<i>.scope, in every tracking hierarchy.
    const max = machines.at(-1) ?? 0
    log(`starting ${max + 1} leader processes, each in its own scope (${roots.join(', ')})`)
    const scopeRoots = roots.map((r) => join(r, 'machine.slice'))
    const pairLeader = (await agent.call('spawn', { count: 1, scope_roots: scopeRoots, scope_names: [`bench-${tag}-pair.scope`] })).pids[0]
    const spawned = await agent.call('spawn', {
      count: max, scope_roots: scopeRoots, scope_names: Array.from({ length: max }, (_, i) => `bench-${tag}-${i}.scope`),
    })
    log(`leaders ready in ${spawned.elapsed_s.toFixed(1)} s`)
    const world = { tag, roots, machines, pairLeader, leaders: spawned.pids }

    for (const kind of opts.daemons) {
      try {
        results.daemons[kind] = await measureDaemon(kind, opts, world, agent, procs)
      } catch (err) {
        log(`${DAEMONS[kind].label}: ${err.message}`)
        results.daemons[kind] = { daemon: DAEMONS[kind].label, error: err.message }
        code = 1
      }
    }
  } catch (err) {
    log(`failed: ${err.stack ?? err.message}`)
    results.error = err.message
    code = 1
  } finally {
    if (!(await stopAndClean(procs, agent, tag, sliceExisted))) code = 1
    // Leave /run as it was (the tmpfs goes with the namespace anyway).
    rmSync('/run/systemd', { recursive: true, force: true })
  }

  publishResults(results, formatTable(results), opts.json)
  return code
}

/** Copies the daemon's /proc/PID/smaps to HEAP_DIR as smaps.PID.LABEL. */
function saveSmaps(daemon, label) {
  mkdirSync(HEAP_DIR, { recursive: true })
  writeFileSync(join(HEAP_DIR, `smaps.${daemon.pid}.${label}`), readText(`/proc/${daemon.pid}/smaps`) ?? '')
}

/** Sends SIGUSR2 (--heapsnapshot-signal) and waits until V8 has finished writing the snapshot; resolves to its path. */
async function heapSnapshot(daemon) {
  mkdirSync(HEAP_DIR, { recursive: true })
  const before = new Set(readdirSync(HEAP_DIR))
  // The memory map too, before the snapshot's full GC changes it: which mappings the RSS is in.
  saveSmaps(daemon, `snapshot-${before.size}`)
  process.kill(daemon.pid, 'SIGUSR2')
  for (let i = 0; i < 1200; i++) {
    await sleep(100)
    const file = readdirSync(HEAP_DIR).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'))
    if (file === undefined) continue
    // Complete once it ends with the strings table's closing brackets.
    const path = join(HEAP_DIR, file)
    const size = statSync(path).size
    const tail = Buffer.alloc(Math.min(16, size))
    const fd = openSync(path, 'r')
    try { readSync(fd, tail, 0, tail.length, size - tail.length) } finally { closeSync(fd) }
    if (tail.toString('latin1').trimEnd().endsWith(']}')) return path
  }
  throw new Error('no heap snapshot within 120 s')
}

// ── Output ─────────────────────────────────────────────────────────────────

function fmt(v, digits) {
  if (v === undefined || v === null || Number.isNaN(v)) return 'n/a'
  return v.toFixed(digits)
}

function formatTable(results) {
  const sd = results.daemons.systemd ?? {}
  const ts = results.daemons.ts ?? {}
  const medianPairs = (d) => median((d.pairs ?? []).map((r) => r.pairs_per_s))
  // The median round's `f(round)` per pair, over the rounds that have it.
  const perPair = (d, f) => median((d.pairs ?? []).filter((r) => f(r) !== undefined).map((r) => f(r) / r.pairs))
  const cpuUsPerPair = (d, key) => perPair(d, (r) => (r[key] === undefined ? undefined : r[key] * 1e6))
  const rows = []
  const row = (metric, better, a, b, digits) => rows.push([metric, fmt(a, digits), fmt(b, digits), a && b ? `${(b / a).toFixed(2)}` : 'n/a', better])
  const counts = results.options ? [...new Set([...Object.keys(sd.list ?? {}), ...Object.keys(ts.list ?? {})])].map(Number).sort((x, y) => x - y) : []
  const pairsN = results.options?.pairs
  row(`Register+Unregister pairs/s (${pairsN} sequential, median of ${results.options?.rounds} rounds)`, 'higher', medianPairs(sd), medianPairs(ts), 0)
  for (const c of counts) {
    row(`ListMachines median ms, ${c.toLocaleString('en-US')} machines`, 'lower', sd.list?.[c]?.median_ms, ts.list?.[c]?.median_ms, 3)
    row(`ListMachines p95 ms, ${c.toLocaleString('en-US')} machines`, 'lower', sd.list?.[c]?.p95_ms, ts.list?.[c]?.p95_ms, 3)
  }
  rows.push(['— more —', '', '', '', ''])
  row('daemon CPU µs per pair, all threads, user+sys (median round)', 'lower', cpuUsPerPair(sd, 'daemon_cpu_s'), cpuUsPerPair(ts, 'daemon_cpu_s'), 0)
  // The rest of the threads' share is V8's compiler and garbage-collector helpers (systemd-machined has one thread).
  row('daemon CPU µs per pair, main thread only (median round)', 'lower', cpuUsPerPair(sd, 'daemon_main_cpu_s'), cpuUsPerPair(ts, 'daemon_main_cpu_s'), 0)
  // --syscalls: counts that do not depend on the machine's load.
  if ([sd, ts].some((d) => d.pairs?.[0]?.daemon_syscalls !== undefined)) {
    row('daemon system calls per pair (perf trace)', 'lower', perPair(sd, (r) => r.daemon_syscalls?.total), perPair(ts, (r) => r.daemon_syscalls?.total), 1)
  }
  if (sd.pairsLoaded || ts.pairsLoaded) {
    const reg = sd.pairsLoaded?.registered ?? ts.pairsLoaded?.registered
    row(`Register+Unregister pairs/s with ${reg.toLocaleString('en-US')} registered`, 'higher', sd.pairsLoaded?.pairs_per_s, ts.pairsLoaded?.pairs_per_s, 0)
  }
  for (const c of counts) {
    row(`RegisterMachine calls/s in bulk (window ${results.options?.window}), up to ${c.toLocaleString('en-US')}`, 'higher', sd.register?.[c]?.calls_per_s, ts.register?.[c]?.calls_per_s, 0)
  }
  row('UnregisterMachine calls/s in bulk, all machines', 'higher', sd.unregister?.calls_per_s, ts.unregister?.calls_per_s, 0)
  const held = sd.memoryWithMachines?.machines ?? ts.memoryWithMachines?.machines ?? 0
  row(`daemon RSS MiB with ${held.toLocaleString('en-US')} machines`, 'lower', sd.memoryWithMachines?.rssMiB, ts.memoryWithMachines?.rssMiB, 1)
  row(`daemon RSS MiB with ${held.toLocaleString('en-US')} machines, after 3 s without calls`, 'lower', sd.memoryIdleWithMachines?.rssMiB, ts.memoryIdleWithMachines?.rssMiB, 1)
  row('   of which anonymous (heaps), after 3 s without calls', 'lower', sd.memoryIdleWithMachines?.rssAnonMiB, ts.memoryIdleWithMachines?.rssAnonMiB, 1)
  row('daemon RSS MiB at start, no machine', 'lower', sd.memoryAtStart?.rssMiB, ts.memoryAtStart?.rssMiB, 1)
  const increment = (d) => (d.memoryIdleWithMachines && d.memoryAtStart && held > 0 ? ((d.memoryIdleWithMachines.rssMiB - d.memoryAtStart.rssMiB) * 1024) / held : undefined)
  row('daemon RSS increment per machine, KiB (idle)', 'lower', increment(sd), increment(ts), 2)
  if (ts.pairsOwnScopes) rows.push(['machined-ts pairs/s, leader in no scope (it makes the scope)', 'n/a', fmt(ts.pairsOwnScopes.pairs_per_s, 0), '—', 'higher'])

  const head = ['metric', 'systemd-machined', 'machined-ts', 'ratio ts/systemd', 'better']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (r) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`
  const m = results.machine ?? {}
  const clientCpu = median((sd.pairs ?? ts.pairs ?? []).map((r) => (r.client_cpu_s / r.pairs) * 1e6))
  const out = [
    `machine: ${m.nproc} CPUs (${m.cpu}), kernel ${m.kernel}, ${m.memTotalGiB} GiB, node ${m.node}, ${m.systemdMachined}, ${m.dbusDaemon}`,
    `machined-ts ${m.machinedTs}; cgroups ${results.cgroupLayout}; client ${results.client?.kind} (dbus-python ${results.client?.dbusPython}, ~${fmt(clientCpu, 0)} µs client CPU per pair)`,
    'Both daemons: same private dbus-daemon, same leader processes, each leader alone in a pre-made machine.slice/bench-*.scope',
    'in both hierarchies (both daemons adopt that scope); run one after the other. ratio = machined-ts / systemd-machined;',
    '"better" says which direction is better, so a pairs/s ratio below 1 or a latency ratio above 1 means machined-ts is slower.',
    '',
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ]
  const clientList = counts.map((c) => {
    const l = sd.list?.[c] ?? ts.list?.[c]
    return l?.client_cpu_s === undefined ? undefined : `${fmt((l.client_cpu_s / (results.options?.listCalls ?? 1)) * 1000, 2)} ms at ${c.toLocaleString('en-US')}`
  }).filter((x) => x !== undefined)
  if (clientList.length > 0) out.push(`client CPU per ListMachines call (libdbus reads and validates the reply; inside both daemons' latency): ${clientList.join(', ')}`)
  for (const [k, d] of Object.entries(results.daemons)) if (d.error) out.push(`${k}: FAILED: ${d.error}`)
  for (const n of results.notes) out.push(`note: ${n}`)
  if (results.error) out.push(`run failed: ${results.error}`)
  return out.join('\n')
}

// ── Entry ──────────────────────────────────────────────────────────────────

const argv = process.argv.slice(2)
const code = isInner() ? await inner(argv) : await outer(argv)
process.exit(code)
