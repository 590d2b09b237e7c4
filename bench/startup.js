#!/usr/bin/env node
// Benchmark (issue 16, goal 6): machined-ts's start with thousands of
// machines on disk. A daemon registers N machines (leaders in pre-made
// scopes, as in bench/run.js), is killed with SIGKILL, and is started
// again on the same bus over the state it left:
//   live   every leader still runs: all N machines are adopted;
//   stale  every leader has died: all N state files are dropped.
// Each start is timed from spawning the process to the first moment it
// serves both transports (org.freedesktop.machine1 owned on the bus and
// the Varlink socket answering GetInfo, polled every 2 ms by
// bench/agent.py); the daemon loads its state before it serves either.
// Isolation, leaders and cleanup are bench/run.js's (bench/lib/). Run as
// root: `node bench/startup.js` (--help). See bench/README.md.
import { cpSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { BENCH_DIR, log, median, sleep, wholeNumber } from './lib/common.js'
import { restartDaemon, startDaemon, stopDaemon } from './lib/daemons.js'
import { machineInfo } from './lib/host.js'
import {
  agentInPool, beginInner, enterPrivateRun, isInner, outerRun, publishResults, stopAndClean,
} from './lib/isolation.js'

/**
 * Stops a daemon started under --cpu-prof so that it writes its profile.
 * "Serving" is seen from outside (the name on the bus, the Varlink socket)
 * a little before the daemon itself has finished starting and set up its
 * SIGTERM handler; a SIGTERM in between ends it by the signal, and Node
 * then writes no profile. A moment's wait first: the profile only gains
 * idle time.
 */
async function stopProfiled(daemon) {
  await sleep(500)
  await daemon.stop()
  if (daemon.child.exitCode !== 0) log(`the profiled daemon did not exit cleanly (${daemon.child.exitCode ?? daemon.child.signalCode}): no profile`)
}

const HELP = `node bench/startup.js [OPTIONS]

machined-ts started over N machines' state files, with every leader alive
(all adopted) and with every leader dead (all dropped): time from spawning
the daemon to serving both transports. Must run as root; touches nothing of
the host (private mount namespace with a tmpfs on /run; every cgroup and
process it makes is removed).

Options:
  --machines=N   Machines on disk (default 10000)
  --runs=N       Starts of each kind; the median is reported (default 3)
  --profile      Once more, a live and a stale start under node --cpu-prof
                 (each stopped with SIGTERM once serving, so its profile is
                 written to bench/results/profiles/; not timed runs)
  --no-build     Do not run \`tsc -p tsconfig.build.json\` first
  --json=FILE    Where to write results (default bench/results/startup.json)
  -h, --help     Show this help
`

const STATE_DIR = '/run/systemd/machines'
const SAVED = '/run/machined-bench/state-copy'

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      machines: { type: 'string', default: '10000' },
      runs: { type: 'string', default: '3' },
      profile: { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      json: { type: 'string', default: join(BENCH_DIR, 'results', 'startup.json') },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const int = (name, min) => wholeNumber(values, name, min)
  return { help: values.help, machines: int('machines', 1), runs: int('runs', 1), profile: values.profile, daemons: ['ts'], build: !values['no-build'], json: values.json }
}

function outer(argv) {
  return outerRun(fileURLToPath(import.meta.url), argv, {
    parseOptions, help: HELP, commands: [], build: (opts) => opts.build, builtFile: 'dist/daemon/main.js',
  })
}

function restoreState() {
  rmSync(STATE_DIR, { recursive: true, force: true })
  cpSync(SAVED, STATE_DIR, { recursive: true, verbatimSymlinks: true })
}

const stateFiles = () => readdirSync(STATE_DIR).filter((f) => !f.startsWith('unit:') && !f.startsWith('.'))

async function inner(argv) {
  const { tag, sliceExisted, opts, roots, py, procs } = beginInner(argv, parseOptions)
  let agent
  const results = { machine: machineInfo(), options: { ...opts, help: undefined, json: undefined }, runs: { empty: [], live: [], stale: [] } }
  let code = 0
  let started
  try {
    enterPrivateRun()
    agent = await agentInPool(py.path, roots, tag)
    log(`starting ${opts.machines} leader processes, each in its own scope`)
    const scopeRoots = roots.map((r) => join(r, 'machine.slice'))
    const { pids } = await agent.call('spawn', {
      count: opts.machines, scope_roots: scopeRoots, scope_names: Array.from({ length: opts.machines }, (_, i) => `bench-${tag}-${i}.scope`),
    })
    started = await startDaemon('ts', { agent, procs })
    const expect = async (kind, count) => {
      const { machines } = await agent.call('count_machines')
      if (machines !== count) throw new Error(`${kind} start: ListMachines has ${machines} machines, expected ${count}`)
    }
    // For reference: a start with no machine at all.
    for (let i = 0; i < opts.runs; i++) {
      const r = await restartDaemon(started)
      await expect('empty', 1)
      results.runs.empty.push(r)
      log(`start with no machine: ${r.ms.toFixed(0)} ms (${r.cpuMs.toFixed(0)} ms CPU)`)
    }
    const names = Array.from({ length: opts.machines }, (_, i) => `bench${tag}s${i}`)
    const reg = await agent.call('register_many', { names, leaders: pids, window: 32 })
    if (reg.errors > 0) throw new Error(`RegisterMachine failed ${reg.errors} times: ${JSON.stringify(reg.error_samples)}`)
    if (stateFiles().length !== opts.machines) throw new Error(`${stateFiles().length} state files, expected ${opts.machines}`)
    for (let i = 0; i < opts.runs; i++) {
      const r = await restartDaemon(started)
      await expect('live', opts.machines + 1)
      results.runs.live.push(r)
      log(`start adopting ${opts.machines} machines: ${r.ms.toFixed(0)} ms (${r.cpuMs.toFixed(0)} ms CPU, ${r.mainCpuMs.toFixed(0)} on the main thread)`)
    }
    if (opts.profile) {
      started.argvOptions = { ...started.argvOptions, profile: true }
      const r = await restartDaemon(started)
      started.argvOptions = { ...started.argvOptions, profile: false }
      await stopProfiled(started.daemon)
      log(`profiled start adopting ${opts.machines} machines: ${r.ms.toFixed(0)} ms (profile in bench/results/profiles/)`)
    }
    // The state as a daemon left it, to be put back before each stale start; then every leader dies.
    cpSync(STATE_DIR, SAVED, { recursive: true, verbatimSymlinks: true })
    await agent.call('kill', { pids })
    for (let i = 0; i < opts.runs; i++) {
      const r = await restartDaemon(started, { beforeStart: restoreState })
      await expect('stale', 1)
      if (stateFiles().length !== 0) throw new Error(`${stateFiles().length} state files left after a stale start`)
      results.runs.stale.push(r)
      log(`start dropping ${opts.machines} stale machines: ${r.ms.toFixed(0)} ms (${r.cpuMs.toFixed(0)} ms CPU, ${r.mainCpuMs.toFixed(0)} on the main thread)`)
    }
    if (opts.profile) {
      started.argvOptions = { ...started.argvOptions, profile: true }
      const r = await restartDaemon(started, { beforeStart: restoreState })
      started.argvOptions = { ...started.argvOptions, profile: false }
      await stopProfiled(started.daemon)
      log(`profiled start dropping ${opts.machines} machines: ${r.ms.toFixed(0)} ms (profile in bench/results/profiles/)`)
    }
  } catch (err) {
    log(`failed: ${err.stack ?? err.message}`)
    results.error = err.message
    code = 1
  } finally {
    if (started !== undefined) Object.assign(results, await stopDaemon(started))
    if (!(await stopAndClean(procs, agent, tag, sliceExisted))) code = 1
  }
  publishResults(results, formatTable(results), opts.json)
  return code
}

function formatTable(results) {
  const m = results.machine
  const n = results.options.machines.toLocaleString('en-US')
  const fmt = (v) => (v === undefined ? 'n/a' : v.toFixed(0))
  const row = (label, runs) => `| ${label} | ${fmt(median(runs.map((r) => r.ms)))} | ${fmt(median(runs.map((r) => r.cpuMs)))} | ${fmt(median(runs.map((r) => r.mainCpuMs)))} | ${fmt(median(runs.map((r) => r.mainWaitMs)))} | ${runs.map((r) => r.ms.toFixed(0)).join(', ')} |`
  return [
    `machine: ${m.nproc} CPUs (${m.cpu}), kernel ${m.kernel}, node ${m.node}; machined-ts ${m.machinedTs}`,
    '',
    `machined-ts start: spawn → serving D-Bus and Varlink, ms (median of ${results.options.runs}; lower is better)`,
    '',
    '| state on disk | median ms | its CPU ms, all threads | of it, main thread | main thread waiting for a CPU, ms | runs, ms |',
    '|---|---:|---:|---:|---:|---|',
    row('none', results.runs.empty),
    row(`${n} machines, leaders alive (all adopted)`, results.runs.live),
    row(`${n} machines, leaders dead (all dropped)`, results.runs.stale),
    ...(results.error ? [`run failed: ${results.error}`] : []),
  ].join('\n')
}

const argv = process.argv.slice(2)
const code = isInner() ? await inner(argv) : await outer(argv)
process.exit(code)
