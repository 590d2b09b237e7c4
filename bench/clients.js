#!/usr/bin/env node
// Benchmark (issue 4, part 4): the clients' side of machined-ts.
//   (a) Register+Unregister pairs per second over Varlink and over D-Bus
//       against machined-ts, next to the real systemd-machined over D-Bus
//       (it has no Varlink in 252): same leaders in pre-made scopes, same
//       one-call-after-the-other client (bench/agent.py; Varlink with the
//       Python standard library only).
//   (b) Cold start of `mctl list` next to the real `machinectl list`: wall
//       time of the whole process, median of N runs, with 10 machines
//       registered, against both daemons.
//   (c) Node's floor for (a)'s pairs: the same client against a Node
//       server that only replies, and against one that makes only the
//       system calls of a registration, over Varlink, and the latter over
//       D-Bus with our D-Bus code (bench/floor.js).
// Isolation, leaders and cleanup are bench/run.js's (bench/lib/). Run as
// root: `node bench/clients.js` (--help). See bench/README.md.
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { BUS_ADDRESS } from './lib/bus.js'
import { BENCH_DIR, REAL_MACHINED, REPO, log, median, wholeNumber } from './lib/common.js'
import { DAEMONS, FLOOR_DIR, startDaemon, stopDaemon, VARLINK_SOCKET } from './lib/daemons.js'
import { machineInfo } from './lib/host.js'
import { CpuSamples, perfDataFile } from './lib/instrument.js'
import {
  agentInPool, beginInner, enterPrivateRun, isInner, outerRun, publishResults, stopAndClean,
} from './lib/isolation.js'
import { Agent, Proc } from './lib/processes.js'

const HELP = `node bench/clients.js [OPTIONS]

(a) Register+Unregister pairs/s over Varlink and D-Bus against machined-ts,
    and over D-Bus against ${REAL_MACHINED};
(b) cold start (whole-process wall time) of \`mctl list\` and \`machinectl list\`
    with machines registered, against each daemon;
(c) with machined-ts, (a)'s pairs against Node's floor: over Varlink a Node
    server that only replies, and one making only a registration's system
    calls; over D-Bus the latter with our D-Bus code (bench/floor.js).
Must run as root; touches nothing of the host (private mount namespace with
a tmpfs on /run; every cgroup and process it makes is removed).

Options:
  --pairs=N      Register+Unregister pairs per round (default 1000)
  --rounds=N     Rounds per transport, interleaved; the median is reported (default 3)
  --warmup=N     Warm-up pairs per transport (default 100)
  --machines=N   Machines registered for the cold starts (default 10)
  --clients=N    Concurrent clients for the second measurement of (a), each its
                 own process and connection with its own leader (default 16;
                 0 skips it)
  --runs=N       Cold starts per command, interleaved; the median is reported (default 30)
  --only=WHICH   systemd | ts | both (default both)
  --no-floor     Skip (c)
  --perf-record  Sample machined-ts's on-CPU time (perf record -e cpu-clock) during
                 the last one-client round of each transport, into
                 bench/results/perf/ts.TRANSPORT.data, and during the last
                 round of N clients, into ts.TRANSPORT-N-clients.data; summarise with
                 node bench/perf-summary.js FILE --per=PAIRS
  --no-build     Do not run \`tsc -p tsconfig.build.json\` first
  --json=FILE    Where to write results (default bench/results/clients.json)
  -h, --help     Show this help
`

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      pairs: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '100' },
      machines: { type: 'string', default: '10' },
      clients: { type: 'string', default: '16' },
      'perf-record': { type: 'boolean', default: false },
      runs: { type: 'string', default: '30' },
      only: { type: 'string', default: 'both' },
      'no-floor': { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      json: { type: 'string', default: join(BENCH_DIR, 'results', 'clients.json') },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const int = (name, min) => wholeNumber(values, name, min)
  if (!['systemd', 'ts', 'both'].includes(values.only)) throw new Error('--only is systemd, ts or both')
  return {
    help: values.help, pairs: int('pairs', 1), rounds: int('rounds', 1), warmup: int('warmup', 0), machines: int('machines', 1), clients: int('clients', 0), perfRecord: values['perf-record'],
    runs: int('runs', 1), floor: !values['no-floor'] && values.only !== 'systemd', daemons: values.only === 'both' ? ['systemd', 'ts'] : [values.only], build: !values['no-build'], json: values.json,
  }
}

function outer(argv) {
  return outerRun(fileURLToPath(import.meta.url), argv, {
    parseOptions, help: HELP, commands: ['machinectl'], build: (opts) => opts.build, builtFile: 'dist/cli/main.js',
  })
}

// ── (a) Register+Unregister pairs ───────────────────────────────────────────

const PAIR_OP = { dbus: 'pairs', varlink: 'varlink_pairs' }

const pairNames = (world, prefix, count) => Array.from({ length: count }, (_, i) => `bench${world.tag}${prefix}${i}`)
const letter = (round) => String.fromCharCode(97 + (round % 26))

/** What a round reads before and after: the serving process's CPU seconds (all threads, and its main thread) and its bus's. */
const cpuOf = (daemon, bus) => () => ({ daemon: daemon.cpu(), daemonMain: daemon.mainCpu(), bus: bus.cpu() })

/** Daemon (and bus) CPU µs per pair since `c0`, an earlier `cpu()`. */
function perPair(cpu, c0, n) {
  const c1 = cpu()
  return {
    daemon_cpu_us_per_pair: ((c1.daemon - c0.daemon) / n) * 1e6,
    daemon_main_cpu_us_per_pair: ((c1.daemonMain - c0.daemonMain) / n) * 1e6,
    bus_cpu_us_per_pair: ((c1.bus - c0.bus) / n) * 1e6,
  }
}

/**
 * The concurrent measurement of one transport: every worker connected,
 * each one's warm-up all at once, then the timed rounds, each worker with
 * its own leader and names (`prefix` tells transports apart).
 */
async function concurrentRounds({ workers, op, connect, disconnect, prefix, label, opts, world, cpu, perf }) {
  await Promise.all(workers.map((w) => connect(w)))
  await Promise.all(workers.map((w, i) => w.call(op, {
    names: [], leaders: [world.clientLeaders[i]], warmup_names: pairNames(world, `w${prefix}${i}x`, Math.ceil(opts.warmup / 4)), warmup_leaders: [world.clientLeaders[i]],
  })))
  const rounds = []
  for (let round = 0; round < opts.rounds; round++) {
    const each = Math.max(1, Math.floor(opts.pairs / 4))
    const samples = perf !== undefined && round === opts.rounds - 1 ? new CpuSamples(perf.pid, perf.file) : undefined
    await samples?.ready()
    const c0 = cpu()
    const results = await Promise.all(workers.map((w, i) => w.call(op, {
      names: pairNames(world, `${prefix}${letter(round)}${i}x`, each), leaders: [world.clientLeaders[i]],
    })))
    if (samples !== undefined) await samples.stop()
    // All clients' pairs over the time from the first start to the last end.
    const total = results.reduce((sum, r) => sum + r.pairs, 0)
    const window = (Math.max(...results.map((r) => r.end_ns)) - Math.min(...results.map((r) => r.start_ns))) / 1e9
    rounds.push({
      clients: workers.length, pairs: total, pairs_per_s: total / window, ...perPair(cpu, c0, total),
      slowest_client_pairs_per_s: Math.min(...results.map((r) => r.pairs_per_s)),
      client_p95_ms: median(results.map((r) => r.pair_latency.p95_ms)),
    })
    log(`${label}, ${workers.length} clients, round ${round + 1}: ${(total / window).toFixed(0)} pairs/s`)
  }
  await Promise.all(workers.map((w) => disconnect(w)))
  return rounds
}

/** The agent's untimed warm-up pairs on its connection (`prefix` tells transports apart). */
async function warmUp(agent, op, prefix, opts, world) {
  await agent.call(op, { names: [], leaders: [world.pairLeader], warmup_names: pairNames(world, `w${prefix}`, opts.warmup), warmup_leaders: [world.pairLeader] })
}

/** One timed round of `opts.pairs` sequential pairs from the agent: its rate, latency and CPU per pair. */
async function sequentialRound(agent, op, prefix, round, cpu, opts, world) {
  const c0 = cpu()
  const r = await agent.call(op, { names: pairNames(world, `${prefix}${letter(round)}`, opts.pairs), leaders: [world.pairLeader] })
  return { pairs_per_s: r.pairs_per_s, pair_latency: r.pair_latency, client_cpu_s: r.client_cpu_s, ...perPair(cpu, c0, r.pairs) }
}

const summary = (rounds) => (rounds.length === 0 ? undefined : {
  median_pairs_per_s: median(rounds.map((r) => r.pairs_per_s)),
  median_daemon_cpu_us_per_pair: median(rounds.map((r) => r.daemon_cpu_us_per_pair)),
  median_daemon_main_cpu_us_per_pair: median(rounds.map((r) => r.daemon_main_cpu_us_per_pair)),
})

/**
 * Rounds of pairs per transport, interleaved so that drift hits both
 * alike: first one client, then `workers.length` clients at once, each
 * with its own leader and names. Each round also reports the daemon's
 * CPU time per pair (and dbus-daemon's, for D-Bus).
 */
async function pairs(kind, opts, world, agent, started, workers) {
  const transports = kind === 'ts' ? ['dbus', 'varlink'] : ['dbus']
  if (kind === 'ts') await agent.call('varlink_connect', { path: VARLINK_SOCKET })
  const cpu = cpuOf(started.daemon, started.bus)
  const out = Object.fromEntries(transports.map((t) => [t, { rounds: [], concurrent: [] }]))
  for (const t of transports) await warmUp(agent, PAIR_OP[t], t[0], opts, world)
  for (let round = 0; round < opts.rounds; round++) {
    for (const t of transports) {
      const samples = opts.perfRecord && kind === 'ts' && round === opts.rounds - 1 ? new CpuSamples(started.daemon.pid, perfDataFile(kind, t)) : undefined
      await samples?.ready()
      const r = await sequentialRound(agent, PAIR_OP[t], t[0], round, cpu, opts, world)
      out[t].rounds.push(r)
      if (samples !== undefined) out[t].perfData = await samples.stop()
      log(`${DAEMONS[kind].label}: ${t} round ${round + 1}: ${r.pairs_per_s.toFixed(0)} pairs/s, daemon ${r.daemon_cpu_us_per_pair.toFixed(0)} µs CPU per pair (main thread ${r.daemon_main_cpu_us_per_pair.toFixed(0)})`)
    }
  }
  if (kind === 'ts') await agent.call('varlink_disconnect')
  if (workers.length > 0) {
    for (const t of transports) {
      out[t].concurrent = await concurrentRounds({
        workers, op: PAIR_OP[t], prefix: t[0], label: `${DAEMONS[kind].label}: ${t}`, opts, world, cpu,
        perf: opts.perfRecord && kind === 'ts' ? { pid: started.daemon.pid, file: perfDataFile(kind, `${t}-${workers.length}-clients`) } : undefined,
        connect: (w) => (t === 'dbus' ? w.call('connect', { address: BUS_ADDRESS }) : w.call('varlink_connect', { path: VARLINK_SOCKET })),
        disconnect: (w) => w.call(t === 'dbus' ? 'disconnect' : 'varlink_disconnect'),
      })
    }
  }
  return Object.fromEntries(Object.entries(out).map(([t, r]) => [t, {
    ...r, ...summary(r.rounds), concurrentSummary: summary(r.concurrent),
  }]))
}

// ── (c) Node's floor for a pair ─────────────────────────────────────────────

/** bench/floor.js's Varlink modes, as the tables name them. */
const FLOOR_MODES = {
  reply: 'Node floor: replies only',
  syscalls: "Node floor: a registration's system calls only",
}

/**
 * (a)'s rounds against one floor, the one client and then all workers
 * (the agent is connected already); `cpu()` gives the floor's and its
 * bus's CPU seconds.
 */
async function floorRounds({ op, connect, disconnect, prefix, label, cpu }, opts, world, agent, workers) {
  await warmUp(agent, op, prefix, opts, world)
  const rounds = []
  for (let round = 0; round < opts.rounds; round++) {
    const r = await sequentialRound(agent, op, prefix, round, cpu, opts, world)
    rounds.push(r)
    log(`${label}: round ${round + 1}: ${r.pairs_per_s.toFixed(0)} pairs/s, ${r.daemon_cpu_us_per_pair.toFixed(0)} µs CPU per pair (main thread ${r.daemon_main_cpu_us_per_pair.toFixed(0)})`)
  }
  const concurrent = workers.length === 0 ? [] : await concurrentRounds({ workers, op, prefix, label, opts, world, cpu, connect, disconnect })
  return { rounds, concurrent, ...summary(rounds), concurrentSummary: summary(concurrent) }
}

/**
 * The same pairs against bench/floor.js: over Varlink a server that only
 * replies and one that makes only a registration's system calls, over
 * D-Bus the latter with our D-Bus code on a fresh bus. What a Node
 * process on this machine needs per pair before any of machined-ts's own
 * work.
 */
async function floors(opts, world, agent, procs, workers) {
  rmSync(FLOOR_DIR, { recursive: true, force: true })
  mkdirSync(FLOOR_DIR, { recursive: true })
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' }
  const start = async (name, args) => {
    const p = new Proc(name, [process.execPath, join(BENCH_DIR, 'floor.js'), ...args], env)
    procs.add(p)
    await p.waitStdout(/ready/, 10_000)
    return p
  }
  const stop = async (p) => {
    await p.stop()
    procs.delete(p)
  }
  const out = {}
  try {
    const sink = await start('floor bus sink', ['--mode=sink', `--socket=${FLOOR_DIR}/bus`])
    try {
      for (const [mode, label] of Object.entries(FLOOR_MODES)) {
        const path = `${FLOOR_DIR}/${mode}`
        const server = await start(label, [`--mode=${mode}`, `--socket=${path}`, `--sink=${FLOOR_DIR}/bus`, `--state-dir=${FLOOR_DIR}/machines-${mode}`])
        try {
          await agent.call('varlink_connect', { path })
          out[mode] = await floorRounds({
            op: 'varlink_pairs', prefix: `f${mode[0]}`, label, cpu: cpuOf(server, sink),
            connect: (w) => w.call('varlink_connect', { path }), disconnect: (w) => w.call('varlink_disconnect'),
          }, opts, world, agent, workers)
          await agent.call('varlink_disconnect')
        } finally {
          await stop(server)
        }
      }
    } finally {
      await stop(sink)
    }
    const started = await startDaemon('floor', { agent, procs })
    try {
      out.dbus = await floorRounds({
        op: 'pairs', prefix: 'fd', label: DAEMONS.floor.label, cpu: cpuOf(started.daemon, started.bus),
        connect: (w) => w.call('connect', { address: BUS_ADDRESS }), disconnect: (w) => w.call('disconnect'),
      }, opts, world, agent, workers)
    } finally {
      await stopDaemon(started)
    }
  } finally {
    rmSync(FLOOR_DIR, { recursive: true, force: true })
  }
  return out
}

// ── (b) Cold starts ─────────────────────────────────────────────────────────

/**
 * What the commands run with: the caller's locale-free basics only. The
 * caller's own environment may hold NODE_EXTRA_CA_CERTS, which makes every
 * Node process read a CA bundle before it starts (about 35 ms here); that
 * is measured separately, as "node -e 0, caller's environment".
 */
function cleanEnv() {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/root', LANG: 'C.UTF-8', TZ: 'UTC', DBUS_SYSTEM_BUS_ADDRESS: BUS_ADDRESS, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' }
}

/** bench/list-floor.cjs: `machinectl list`'s D-Bus calls from Node, nothing decoded but the names, no table. */
const LIST_FLOOR = 'Node floor of `mctl list`: its D-Bus calls only'
/** The same over the project's addon socket, as mctl's (no node:net). */
const LIST_FLOOR_NATIVE = 'Node floor of `mctl list`, on the addon\'s socket'
/** One Varlink List call with its metadata, on the addon's socket. */
const LIST_FLOOR_VARLINK = 'Node floor of `mctl list` over Varlink, on the addon\'s socket'

function commands(kind) {
  const mctl = [process.execPath, join(REPO, 'bin/mctl.js')]
  const env = cleanEnv()
  const callerEnv = { ...process.env, ...env }
  delete callerEnv.BENCH_INNER
  const list = {
    'machinectl list': { argv: ['machinectl', 'list'], env },
    'mctl list': { argv: [...mctl, 'list'], env },
  }
  if (kind === 'ts') {
    // `mctl list` takes Varlink first where its socket is (machined-ts's): the D-Bus path, by name, and all of mctl over Varlink.
    list['mctl --transport=dbus list'] = { argv: [...mctl, '--transport=dbus', 'list'], env }
    list['mctl --transport=varlink list'] = { argv: [...mctl, '--transport=varlink', 'list'], env }
  }
  list['mctl --version (no daemon calls)'] = { argv: [...mctl, '--version'], env }
  list[LIST_FLOOR] = { argv: [process.execPath, join(BENCH_DIR, 'list-floor.cjs')], env }
  list[LIST_FLOOR_NATIVE] = { argv: [process.execPath, join(BENCH_DIR, 'list-floor.cjs'), 'native'], env }
  if (kind === 'ts') list[LIST_FLOOR_VARLINK] = { argv: [process.execPath, join(BENCH_DIR, 'list-floor.cjs'), 'varlink'], env }
  list['node -e 0'] = { argv: [process.execPath, '-e', '0'], env }
  if (process.env.NODE_EXTRA_CA_CERTS !== undefined) list["node -e 0, caller's environment"] = { argv: [process.execPath, '-e', '0'], env: callerEnv }
  return list
}

async function coldStarts(kind, opts, world, agent) {
  const names = Array.from({ length: opts.machines }, (_, i) => `bench${world.tag}c${i}`)
  const reg = await agent.call('register_many', { names, leaders: world.machineLeaders, window: 8 })
  if (reg.errors > 0) throw new Error(`registering ${opts.machines} machines failed: ${JSON.stringify(reg.error_samples)}`)
  // machinectl refuses to run unless this exists (sd_booted()); it is the private /run's.
  mkdirSync('/run/systemd/system', { recursive: true })
  const cmds = commands(kind)
  const out = { machines: opts.machines, commands: {} }
  try {
    // The outputs first: mctl must print what machinectl prints, or the timing compares different work.
    const once = (c) => spawnSync(c.argv[0], c.argv.slice(1), { env: c.env, encoding: 'utf8' })
    const reference = once(cmds['machinectl list'])
    for (const [label, c] of Object.entries(cmds)) {
      if (!label.startsWith('mctl ') || !label.endsWith(' list')) continue
      const r = once(c)
      if (r.status !== 0) throw new Error(`${label} failed: ${r.stderr}`)
      if (r.stdout !== reference.stdout) throw new Error(`${label} printed something else than machinectl list:\n${r.stdout}\n---\n${reference.stdout}`)
    }
    out.output = reference.stdout
    const times = Object.fromEntries(Object.keys(cmds).map((k) => [k, []]))
    for (let i = 0; i < opts.runs; i++) {
      for (const [label, c] of Object.entries(cmds)) {
        const t0 = process.hrtime.bigint()
        const r = spawnSync(c.argv[0], c.argv.slice(1), { env: c.env, stdio: ['ignore', 'ignore', 'pipe'] })
        times[label].push(Number(process.hrtime.bigint() - t0) / 1e6)
        if (r.status !== 0) throw new Error(`${label} failed: ${r.stderr}`)
      }
    }
    for (const [label, t] of Object.entries(times)) {
      const sorted = [...t].sort((a, b) => a - b)
      out.commands[label] = { median_ms: median(t), min_ms: sorted[0], max_ms: sorted.at(-1), runs: t.length }
      log(`${DAEMONS[kind].label}: ${label}: median ${median(t).toFixed(1)} ms`)
    }
  } finally {
    await agent.call('unregister_many', { names, window: 8 }).catch(() => undefined)
  }
  return out
}

// ── Inner process ───────────────────────────────────────────────────────────

async function inner(argv) {
  const { tag, sliceExisted, opts, roots, py, procs } = beginInner(argv, parseOptions)
  let agent
  let workers = []

  const results = {
    machine: machineInfo(),
    client: { pairs: `python3 ${py.path}: D-Bus through python3-dbus ${py.dbusVersion} (libdbus), Varlink through socket+json`, coldStarts: 'spawnSync() wall time, stdout and stdin discarded' },
    options: { ...opts, help: undefined, json: undefined },
    daemons: {},
  }
  let code = 0
  try {
    enterPrivateRun()
    agent = await agentInPool(py.path, roots, tag)
    // Leaders, each alone in its own pre-made scope that both daemons adopt (as in bench/run.js).
    const scopeRoots = roots.map((r) => join(r, 'machine.slice'))
    const count = 1 + opts.machines + opts.clients
    const spawned = await agent.call('spawn', {
      count, scope_roots: scopeRoots, scope_names: Array.from({ length: count }, (_, i) => `bench-${tag}-${i}.scope`),
    })
    const world = {
      tag, pairLeader: spawned.pids[0], machineLeaders: spawned.pids.slice(1, 1 + opts.machines), clientLeaders: spawned.pids.slice(1 + opts.machines),
    }
    // The concurrent clients: python3 processes of their own (bench/agent.py), so no client waits for another's turn.
    workers = Array.from({ length: opts.clients }, () => new Agent(py.path))
    for (const kind of opts.daemons) {
      const started = await startDaemon(kind, { agent, procs, perfMap: opts.perfRecord })
      const out = { daemon: DAEMONS[kind].label }
      try {
        out.pairs = await pairs(kind, opts, world, agent, started, workers)
        out.coldStart = await coldStarts(kind, opts, world, agent)
      } catch (err) {
        log(`${DAEMONS[kind].label}: ${err.message}`)
        out.error = err.message
        code = 1
      } finally {
        Object.assign(out, await stopDaemon(started))
      }
      results.daemons[kind] = out
    }
    if (opts.floor) {
      try {
        results.floor = await floors(opts, world, agent, procs, workers)
      } catch (err) {
        log(`Node's floor: ${err.message}`)
        results.floor = { error: err.message }
        code = 1
      }
    }
  } catch (err) {
    log(`failed: ${err.stack ?? err.message}`)
    results.error = err.message
    code = 1
  } finally {
    await Promise.all(workers.map((w) => w.quit()))
    if (!(await stopAndClean(procs, agent, tag, sliceExisted))) code = 1
  }
  publishResults(results, formatTables(results), opts.json)
  return code
}

// ── Output ──────────────────────────────────────────────────────────────────

const fmt = (v, digits) => (v === undefined || v === null || Number.isNaN(v) ? 'n/a' : v.toFixed(digits))
const ratio = (a, b) => (a && b ? (a / b).toFixed(2) : 'n/a')

function markdown(head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (r) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`
  return [line(head), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n')
}

function formatTables(results) {
  const sd = results.daemons.systemd ?? {}
  const ts = results.daemons.ts ?? {}
  const o = results.options
  const m = results.machine
  const out = [`machine: ${m.nproc} CPUs (${m.cpu}), kernel ${m.kernel}, node ${m.node}, ${m.systemdMachined}; machined-ts ${m.machinedTs}`, '']

  out.push(`(a) Register+Unregister pairs/s, median of ${o.rounds} rounds: one client doing ${o.pairs} sequential pairs, then ${o.clients} clients at once`,
    `doing ${Math.max(1, Math.floor(o.pairs / 4))} each (aggregate over the first start to the last end); daemon CPU µs per pair, all threads and the main thread alone (higher pairs/s, lower CPU is better)`, '')
  const pairRows = []
  for (const [label, s] of [['one client', (t) => t], [`${o.clients} clients`, (t) => t?.concurrentSummary]]) {
    if (label !== 'one client' && o.clients === 0) continue
    const sdDbus = s(sd.pairs?.dbus)
    const tsDbus = s(ts.pairs?.dbus)
    const tsVarlink = s(ts.pairs?.varlink)
    const rate = (x) => x?.median_pairs_per_s
    const cpuUs = (x) => fmt(x?.median_daemon_cpu_us_per_pair, 0)
    const mainUs = (x) => fmt(x?.median_daemon_main_cpu_us_per_pair, 0)
    pairRows.push(
      [`D-Bus → systemd-machined 252, ${label}`, fmt(rate(sdDbus), 0), '1.00', ratio(rate(sdDbus), rate(tsDbus)), cpuUs(sdDbus), mainUs(sdDbus)],
      [`D-Bus → machined-ts, ${label}`, fmt(rate(tsDbus), 0), ratio(rate(tsDbus), rate(sdDbus)), '1.00', cpuUs(tsDbus), mainUs(tsDbus)],
      [`Varlink → machined-ts, ${label}`, fmt(rate(tsVarlink), 0), ratio(rate(tsVarlink), rate(sdDbus)), ratio(rate(tsVarlink), rate(tsDbus)), cpuUs(tsVarlink), mainUs(tsVarlink)],
    )
    const floorRow = (transport, name, floor) => {
      if (floor !== undefined) pairRows.push([`${transport} → ${name}, ${label}`, fmt(rate(floor), 0), ratio(rate(floor), rate(sdDbus)), ratio(rate(floor), rate(tsDbus)), cpuUs(floor), mainUs(floor)])
    }
    floorRow('D-Bus', DAEMONS.floor.label, s(results.floor?.dbus))
    for (const [mode, name] of Object.entries(FLOOR_MODES)) floorRow('Varlink', name, s(results.floor?.[mode]))
  }
  pairRows.push(['Varlink → systemd-machined 252', 'n/a', '—', '—', '—', '—'])
  out.push(markdown(['client → daemon', 'pairs/s', 'ratio to systemd-machined (D-Bus)', 'ratio to machined-ts D-Bus', 'daemon CPU µs/pair', 'of it, main thread'], pairRows))
  if (results.floor !== undefined && results.floor.error === undefined) {
    out.push('', 'Node floor: bench/floor.js with the same client; its "daemon CPU" is that process\'s. "replies only" parses each call',
      'and answers it; "a registration\'s system calls only" makes a registration\'s system calls (pidfd pin, /proc reads, state',
      'file, unit link) and sends the bus signal (over Varlink: 200 bytes to a socket standing in for the bus), and nothing else.')
  }
  out.push('', `(b) Cold start, whole process wall time, median of ${o.runs} runs, ${o.machines} machines registered (lower is better)`, '')
  const labels = [...new Set([...Object.keys(sd.coldStart?.commands ?? {}), ...Object.keys(ts.coldStart?.commands ?? {})])]
  const cell = (d, label) => fmt(d.coldStart?.commands?.[label]?.median_ms, 1)
  const rows = labels.map((label) => [label, cell(sd, label), cell(ts, label)])
  const r = (d) => ratio(d.coldStart?.commands?.['mctl list']?.median_ms, d.coldStart?.commands?.['machinectl list']?.median_ms)
  rows.push(['ratio mctl list / machinectl list', r(sd), r(ts)])
  out.push(markdown(['command (ms)', 'against systemd-machined 252', 'against machined-ts'], rows))
  for (const [k, d] of Object.entries(results.daemons)) if (d.error) out.push(`${k}: FAILED: ${d.error}`)
  if (results.error) out.push(`run failed: ${results.error}`)
  return out.join('\n')
}

// ── Entry ───────────────────────────────────────────────────────────────────

const argv = process.argv.slice(2)
const code = isInner() ? await inner(argv) : await outer(argv)
process.exit(code)
