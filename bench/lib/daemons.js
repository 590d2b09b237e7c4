// The two daemons a bench compares, each started fresh on a fresh private
// dbus-daemon (both claim org.freedesktop.machine1, so one at a time), with
// the agent connected, and stopped completely afterwards.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { BUS_ADDRESS, WORK } from './bus.js'
import { BENCH_DIR, REAL_MACHINED, REPO, log } from './common.js'
import { Proc } from './processes.js'

export const DAEMONS = {
  systemd: { label: 'systemd-machined 252' },
  ts: { label: 'machined-ts' },
  // Not a daemon: bench/floor.js's D-Bus mode, Node's floor for a pair over the bus (bench/clients.js).
  floor: { label: "Node floor: our D-Bus code and a registration's system calls only" },
}

/** Where bench/floor.js keeps its state files, in the private /run. */
export const FLOOR_DIR = '/run/bench-floor'

/** machined-ts's Varlink socket (its default); systemd-machined 252 has none. */
export const VARLINK_SOCKET = '/run/systemd/machine/io.systemd.Machine'

/** Where --heap-snapshot puts machined-ts's heap snapshots. */
export const HEAP_DIR = join(BENCH_DIR, 'results', 'heap')

function daemonArgv(kind, { profile = false, perfMap = false, heapSnapshot = false, extraArgs = [] } = {}) {
  if (kind === 'systemd') return [REAL_MACHINED]
  if (kind === 'floor') return [process.execPath, join(BENCH_DIR, 'floor.js'), '--mode=dbus', `--bus=${BUS_ADDRESS}`, `--state-dir=${FLOOR_DIR}/machines-dbus`]
  const prof = profile ? ['--cpu-prof', `--cpu-prof-dir=${join(BENCH_DIR, 'results', 'profiles')}`] : []
  // /tmp/perf-PID.map names JIT-compiled JavaScript for perf report (bench/lib/instrument.js).
  if (perfMap) prof.push('--perf-basic-prof')
  // SIGUSR2 makes V8 write a snapshot (after a full GC) into HEAP_DIR.
  const heap = heapSnapshot ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${HEAP_DIR}`] : []
  return [process.execPath, ...prof, ...heap, join(REPO, 'bin/machined.js'), `--bus-address=${BUS_ADDRESS}`, '--log-level=warn', ...extraArgs]
}

/**
 * The environment both daemons run with: the caller's, with the private
 * bus, less NODE_EXTRA_CA_CERTS (a caller's setting that makes every Node
 * process read a CA bundle first, about 35 ms and 3 MiB here; a service
 * manager starts the daemon without it).
 */
function daemonEnv() {
  const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: BUS_ADDRESS, SYSTEMD_LOG_LEVEL: 'warning', SYSTEMD_LOG_TARGET: 'console' }
  delete env.BENCH_INNER
  delete env.NODE_EXTRA_CA_CERTS
  return env
}

/**
 * A fresh bus and the daemon `kind` on it, both in `procs` (so a signal
 * handler can kill them), and the agent connected once the daemon has its
 * name. Resolves to what stopDaemon() needs.
 */
export async function startDaemon(kind, { agent, procs, profile = false, perfMap = false, heapSnapshot = false, extraArgs = [] }) {
  const env = daemonEnv()
  rmSync('/run/systemd', { recursive: true, force: true })
  rmSync('/run/machined-ts', { recursive: true, force: true })

  const bus = new Proc('dbus-daemon', ['dbus-daemon', `--config-file=${WORK}/dbus.conf`, '--nofork', '--print-address=1'], env)
  procs.add(bus)
  await bus.waitStdout(/unix:path=/, 10_000)
  const daemon = new Proc(DAEMONS[kind].label, daemonArgv(kind, { profile, perfMap, heapSnapshot, extraArgs }), env)
  procs.add(daemon)
  const argvOptions = { profile, perfMap, heapSnapshot, extraArgs }
  const started = { kind, bus, daemon, agent, procs, argvOptions }
  try {
    await agent.call('connect', { address: BUS_ADDRESS })
    await agent.call('wait_name', { timeout_s: 30 })
  } catch (err) {
    await stopDaemon(started)
    throw err
  }
  log(`${DAEMONS[kind].label}: up (pid ${daemon.pid})`)
  return started
}

/**
 * kill -9 of the daemon `started` runs, and the same daemon started again
 * on the same bus with everything it left in /run. Resolves, once the new
 * one serves both transports (bench/agent.py wait_serving), to the
 * milliseconds from spawning it to then (`ms`) and the CPU time it used
 * (`cpuMs`, all threads; `mainCpuMs`, its main thread alone; `mainWaitMs`, how long that thread waited for a
 * CPU); `started.daemon` is the new one.
 */
export async function restartDaemon(started, { beforeStart = () => undefined, varlinkPath = VARLINK_SOCKET } = {}) {
  const old = started.daemon
  old.child.kill('SIGKILL')
  await old.exited
  started.procs.delete(old)
  await beforeStart()
  const env = daemonEnv()
  const t0 = process.hrtime.bigint()
  const daemon = new Proc(DAEMONS[started.kind].label, daemonArgv(started.kind, started.argvOptions), env)
  started.procs.add(daemon)
  started.daemon = daemon
  const { serving_ns: servingNs } = await started.agent.call('wait_serving', { varlink_path: varlinkPath, timeout_s: 120 })
  // Its CPU time until then too (all threads): less at the mercy of the machine's load than the wall clock.
  return { ms: Number(BigInt(servingNs) - t0) / 1e6, cpuMs: daemon.cpu() * 1000, mainCpuMs: daemon.mainCpu() * 1000, mainWaitMs: daemon.mainWait() * 1000 }
}

/** Disconnects the agent and stops daemon and bus; resolves to how the daemon ended and the tail of its stderr. */
export async function stopDaemon({ bus, daemon, agent, procs }) {
  await agent.call('disconnect').catch(() => undefined)
  const exit = daemon.child.exitCode ?? daemon.child.signalCode ?? undefined
  await daemon.stop()
  await bus.stop()
  procs.delete(daemon)
  procs.delete(bus)
  const tail = daemon.stderr.trim()
  return { daemonExit: exit, daemonStderrTail: tail === '' ? undefined : tail.split('\n').slice(-10) }
}
