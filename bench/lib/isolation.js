// How a bench run is kept off the host (bench/README.md, "How"): the outer
// process re-runs the script inside `unshare -m --propagation private`,
// where the inner process mounts a tmpfs on /run; afterwards the outer
// process checks that nothing is left in that mount namespace and removes
// whatever cgroups the run left. Both halves are here; a script calls
// runIsolated() from its outer half and enterPrivateRun() first thing in
// its inner half.
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, readlinkSync, writeFileSync, writeSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { DBUS_CONF, WORK } from './bus.js'
import { cleanupCgroups, cgroupMounts, leftoverCgroups } from './cgroups.js'
import { log, REAL_MACHINED, REPO, run, sleepSync, which } from './common.js'
import { Agent, findPython, processesInNamespace } from './processes.js'

/** Whether this process is the inner half of a run. */
export function isInner() {
  return process.env.BENCH_INNER === '1'
}

/**
 * Outer half: runs `script argv…` again inside a private mount namespace
 * and resolves to its exit code once nothing of the run is left.
 */
export async function runIsolated(script, argv) {
  const tag = String(process.pid)
  const sliceExisted = Object.fromEntries(cgroupMounts().all.map((root) => [root, existsSync(join(root, 'machine.slice'))]))
  const child = spawn('unshare', ['-m', '--propagation', 'private', '--', process.execPath, script, ...argv], {
    // fd 3: the inner process names its mount namespace, so we can check that nothing stays in it.
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
    env: { ...process.env, BENCH_INNER: '1', BENCH_TAG: tag, BENCH_SLICE_EXISTED: JSON.stringify(sliceExisted) },
  })
  // Ctrl-C reaches the whole process group; the inner process cleans up and we check after it.
  const forward = (sig) => { try { child.kill(sig) } catch { /* gone */ } }
  process.on('SIGINT', () => {})
  process.on('SIGTERM', () => forward('SIGTERM'))
  let namespace = ''
  child.stdio[3].on('data', (c) => { namespace += c.toString() })
  const code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s === null ? 1 : 128 + os.constants.signals[s]))))

  // Nothing may outlive the run in its mount namespace (then the namespace and its /run tmpfs are gone too).
  namespace = namespace.trim()
  let stray = namespace === '' ? [] : processesInNamespace(namespace)
  for (let i = 0; i < 50 && stray.length > 0; i++) {
    for (const pid of stray) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
    sleepSync(50)
    stray = processesInNamespace(namespace)
  }
  if (stray.length > 0) log(`processes still in the run's mount namespace ${namespace}: ${stray.join(' ')}`)

  // Safety net: whatever the inner run left behind (it should be nothing).
  const report = cleanupCgroups(tag, sliceExisted)
  const left = leftoverCgroups(tag)
  if (report.cgroups > 0 || report.killed > 0) log(`safety cleanup removed ${report.cgroups} cgroups and killed ${report.killed} processes left by the run`)
  if (left.length > 0) log(`could not remove: ${left.join(' ')}`)
  if (left.length > 0 || stray.length > 0 || namespace === '') {
    if (namespace === '') log('the inner run never reported its mount namespace')
    return code === 0 ? 1 : code
  }
  log(`cleanup checked: no cgroups of this run remain, and no process is left in its mount namespace (${namespace}), so its /run tmpfs is gone`)
  return code
}

/** Inner half: what the outer half passed down (the run's tag and which machine.slice dirs existed before). */
export function innerContext() {
  try { writeSync(3, `${readlinkSync('/proc/self/ns/mnt')}\n`); closeSync(3) } catch { /* not started by runIsolated() */ }
  return { tag: process.env.BENCH_TAG, sliceExisted: JSON.parse(process.env.BENCH_SLICE_EXISTED ?? '{}') }
}

/**
 * Inner half, first thing: the run's tag and options, the hierarchies
 * that track processes, python3-dbus, and the set of processes a signal
 * kills before the run's cgroups are removed (cleanUpOnSignal()).
 */
export function beginInner(argv, parseOptions) {
  const { tag, sliceExisted } = innerContext()
  const opts = parseOptions(argv)
  const procs = new Set()
  cleanUpOnSignal(procs, tag, sliceExisted)
  return { tag, sliceExisted, opts, roots: cgroupMounts().tracking, py: findPython(), procs }
}

/** Inner half: a private tmpfs on /run holding the bus socket, both daemons' state and our files. */
export function enterPrivateRun() {
  const m = run('mount', ['-t', 'tmpfs', '-o', 'mode=755,size=512m', 'tmpfs', '/run'])
  if (m.status !== 0) throw new Error(`mount tmpfs on /run failed: ${m.stderr}`)
  mkdirSync('/run/dbus', { recursive: true })
  mkdirSync(WORK, { recursive: true })
  writeFileSync(`${WORK}/dbus.conf`, DBUS_CONF)
}

/**
 * On SIGINT or SIGTERM: kill what the run started (`procs`, whose entries
 * have a `child`), remove the run's cgroups, exit 130. Once only.
 */
export function cleanUpOnSignal(procs, tag, sliceExisted) {
  let interrupted = false
  const onSignal = (sig) => {
    if (interrupted) return
    interrupted = true
    log(`${sig}: stopping and cleaning up`)
    for (const p of procs) { try { p.child.kill('SIGKILL') } catch { /* gone */ } }
    cleanupCgroups(tag, sliceExisted)
    process.exit(130)
  }
  process.on('SIGINT', () => onSignal('SIGINT'))
  process.on('SIGTERM', () => onSignal('SIGTERM'))
}

/**
 * Outer half of a benchmark script: its options (help, errors), root, the
 * programs it needs (`commands`, besides the bus and python3-dbus), a build
 * of dist/ when `build` says so (`builtFile` must exist if tsc fails), then
 * the script itself again inside a private mount namespace.
 */
export async function outerRun(script, argv, { parseOptions, help, commands, build, builtFile }) {
  let opts
  try {
    opts = parseOptions(argv)
  } catch (err) {
    process.stderr.write(`bench: ${err.message}\n`)
    return 2
  }
  if (opts.help) { process.stdout.write(help); return 0 }
  if (process.getuid() !== 0) {
    process.stderr.write('bench: must run as root (it makes cgroups, a mount namespace and a system bus)\n')
    return 1
  }
  const missing = []
  for (const cmd of ['unshare', 'mount', 'setpriv', 'dbus-daemon', ...commands]) if (which(cmd) === undefined) missing.push(cmd)
  if (opts.daemons.includes('systemd') && !existsSync(REAL_MACHINED)) missing.push(`${REAL_MACHINED} (apt-get install systemd-container)`)
  if (findPython() === undefined) missing.push('python3 with the dbus module (apt-get install python3-dbus)')
  if (cgroupMounts().tracking.length === 0) missing.push('a mounted cgroup hierarchy')
  if (missing.length > 0) {
    process.stderr.write(`bench: missing: ${missing.join('; ')}\n`)
    return 1
  }
  if (build(opts)) {
    log('building machined-ts (tsc -p tsconfig.build.json, then the bins\' bundles)')
    const r = run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] })
    if (run(process.execPath, ['scripts/build-bins.js'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] }).status !== 0) {
      process.stderr.write('bench: the bins\' bundles were not built\n')
      return 1
    }
    if (r.status !== 0) {
      if (!existsSync(join(REPO, builtFile))) { process.stderr.write('bench: build failed and there is no dist/\n'); return 1 }
      log('build reported errors; measuring the dist/ it emitted')
    }
  }
  return runIsolated(script, argv)
}

/**
 * Inner half: the Python agent, moved first into machine.slice/bench-<tag>-pool
 * in every tracking hierarchy, so every leader it spawns is born there.
 */
export async function agentInPool(python, roots, tag) {
  const pool = `bench-${tag}-pool`
  for (const root of roots) mkdirSync(join(root, 'machine.slice', pool), { recursive: true })
  const agent = new Agent(python)
  await agent.call('join_pool', { dirs: roots.map((r) => join(r, 'machine.slice', pool)) })
  return agent
}

/** Inner half, at the end: stops what the run started and removes its cgroups; false when some could not be removed. */
export async function stopAndClean(procs, agent, tag, sliceExisted) {
  for (const p of procs) await p.stop(5000)
  if (agent !== undefined) await agent.quit()
  const report = cleanupCgroups(tag, sliceExisted)
  if (report.failed.length > 0) log(`could not remove ${report.failed.join(' ')}`)
  return report.failed.length === 0
}

/** Prints the table and writes the results (with the table) as JSON. */
export function publishResults(results, table, jsonPath) {
  results.table = table
  process.stdout.write(`${table}\n`)
  mkdirSync(dirname(jsonPath), { recursive: true })
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`)
  log(`results written to ${jsonPath}`)
}
