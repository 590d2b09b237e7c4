#!/usr/bin/env node
// Benchmark (issue 12): `machinectl import-tar` of the same tarball into
// the pool, machined-ts next to the real systemd-importd 252 (which forks
// systemd-import, which runs GNU tar): the whole machinectl process, from
// the call to TransferRemoved, both importing with their defaults (a
// synchronised file system before the image gets its name). Each daemon has
// a bus of its own (both own org.freedesktop.import1), so runs can be
// interleaved. The tarball is a tree of small files and some large ones,
// uncompressed and gzip-compressed. Each side's CPU time is counted too, in
// a cgroup of each daemon's (the daemon and all it runs), with the load
// average at the time. The pool is a fresh directory under
// /var/tmp bind-mounted over /var/lib/machines inside the run's private
// mount namespace (bench/lib/isolation.js), so the host's pool is never
// touched. Run as root: `node bench/transfers.js` (--help).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { DBUS_CONF } from './lib/bus.js'
import { cgroupMounts } from './lib/cgroups.js'
import { BENCH_DIR, log, median, readText, REPO, run, sleep } from './lib/common.js'
import { machineInfo } from './lib/host.js'
import { cleanUpOnSignal, enterPrivateRun, innerContext, isInner, outerRun, publishResults, stopAndClean } from './lib/isolation.js'
import { mountPool } from './lib/pool.js'
import { cpuSeconds, Proc } from './lib/processes.js'

const REAL_IMPORTD = '/lib/systemd/systemd-importd'

const HELP = `node bench/transfers.js [OPTIONS]

\`machinectl import-tar FILE NAME\` of the same tarball, machined-ts next to
systemd-importd 252, interleaved; wall time of the whole machinectl process,
and the CPU time of each daemon and all it ran (a cgroup each).
Must run as root; touches nothing of the host (private mount namespace, a
pool under /var/tmp bind-mounted over /var/lib/machines, removed after).

Options:
  --tree-mib=N   Size of the tree in the tarball, in MiB (default 256)
  --runs=N       Imports per daemon and format (default 7)
  --formats=LIST tar, tar.gz or both (default tar,tar.gz)
  --no-build     Do not run \`tsc -p tsconfig.build.json\` first
  --json=FILE    Where to write results (default bench/results/transfers.json)
  -h, --help     Show this help
`

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      'tree-mib': { type: 'string', default: '256' }, runs: { type: 'string', default: '7' }, formats: { type: 'string', default: 'tar,tar.gz' },
      'no-build': { type: 'boolean', default: false }, json: { type: 'string', default: join(BENCH_DIR, 'results', 'transfers.json') },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const int = (v, name, min) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} wants a whole number ≥ ${min}, got ${v}`)
    return n
  }
  const formats = values.formats.split(',')
  if (formats.some((f) => f !== 'tar' && f !== 'tar.gz')) throw new Error('--formats takes tar and tar.gz')
  return {
    help: values.help, treeMiB: int(values['tree-mib'], 'tree-mib', 1), runs: int(values.runs, 'runs', 1), formats,
    daemons: ['systemd', 'ts'], build: !values['no-build'], json: values.json,
  }
}

/** A tree like an OS's, `mib` MiB in all: 4,000 small files (1–32 KiB) in 200 directories, symlinks, and 1 MiB files for the rest. */
function makeTree(dir, mib) {
  const script = `set -e
for d in $(seq 0 199); do mkdir -p "$1/usr/d$d"; done
for i in $(seq 0 3999); do head -c $(( (i % 32 + 1) * 1024 )) /dev/urandom > "$1/usr/d$((i % 200))/f$i"; ln -s "f$i" "$1/usr/d$((i % 200))/l$i"; done
for i in $(seq 0 $(( $2 - 66 ))); do head -c 1048576 /dev/urandom > "$1/usr/d$((i % 200))/big$i"; done
mkdir -p "$1/etc" && echo ID=bench > "$1/etc/os-release"`
  const r = run('sh', ['-c', script, 'sh', dir, String(Math.max(mib, 66))])
  if (r.status !== 0) throw new Error(`making the tree failed: ${r.stderr}`)
}

const BUSES = { systemd: '/run/dbus/importd_bus_socket', ts: '/run/dbus/system_bus_socket' }
const BUS_SOCKET = (kind) => BUSES[kind]
const LABELS = { systemd: 'systemd-importd 252', ts: 'machined-ts' }

/** The daemon of each kind, once started, and the cgroup counting its CPU time. */
const daemons = {}

/**
 * A cgroup of the run's (machine.slice/bench-TAG-NAME, removed with the
 * run's others) in which `pid` and all it starts are counted: cpuacct's
 * on cgroup v1, else cpu.stat's on v2. Returns a reader of the CPU
 * milliseconds used there so far: the daemon and every process it ran,
 * tar included, whenever they were reaped.
 */
function cpuCgroup(tag, name, pid) {
  const { all, unified } = cgroupMounts()
  const v1 = all.find((m) => existsSync(join(m, 'cpuacct.usage')))
  const dir = join(v1 ?? unified, 'machine.slice', `bench-${tag}-${name}`)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'cgroup.procs'), String(pid))
  if (v1 !== undefined) return () => Number(readText(join(dir, 'cpuacct.usage'))) / 1e6
  return () => Number(/^usage_usec (\d+)/m.exec(readText(join(dir, 'cpu.stat')) ?? '')?.[1]) / 1e3
}

/** The 1-minute load average. */
const load1 = () => Number((readText('/proc/loadavg') ?? 'NaN').split(' ')[0])

/** A bus of its own at `socket` and the daemon on it. */
async function startService(kind, procs, tag) {
  const conf = `/run/machined-bench/dbus-${kind}.conf`
  writeFileSync(conf, DBUS_CONF.replace('unix:path=/run/dbus/system_bus_socket', `unix:path=${BUS_SOCKET(kind)}`))
  const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${BUS_SOCKET(kind)}`, SYSTEMD_LOG_LEVEL: 'warning' }
  delete env.BENCH_INNER
  const bus = new Proc(`dbus (${kind})`, ['dbus-daemon', `--config-file=${conf}`, '--nofork', '--print-address=1'], env)
  procs.add(bus)
  await bus.waitStdout(/unix:path=/, 10_000)
  const argv = kind === 'systemd' ? [REAL_IMPORTD]
    : [process.execPath, join(REPO, 'bin/machined.js'), `--bus-address=unix:path=${BUS_SOCKET(kind)}`, '--log-level=warn', '--varlink-socket=', '--measure-image-usage=no']
  const daemon = new Proc(LABELS[kind], argv, env)
  procs.add(daemon)
  // What the daemon writes is read all along: a daemon blocked on a full stdout or stderr would hang the import (importd's did).
  daemon.child.stdout.resume()
  daemons[kind] = { pid: daemon.pid, cpuMs: cpuCgroup(tag, `cpu-${kind}`, daemon.pid) }
  // Ready once the name has an owner.
  for (let i = 0; i < 300; i++) {
    const r = spawnSync('busctl', ['--address', `unix:path=${BUS_SOCKET(kind)}`, 'status', 'org.freedesktop.import1'], { encoding: 'utf8' })
    if (r.status === 0) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${LABELS[kind]} did not take org.freedesktop.import1: ${daemon.stderr}`)
}

/**
 * One import: the whole `machinectl import-tar`, timed, and the daemon
 * side's CPU time; then the image goes (not timed). machinectl runs
 * while our event loop does too, so the daemons' output keeps being read.
 */
async function importOnce(kind, file, name, keep) {
  run('sync', ['-f', '/var/lib/machines'])
  const env = { PATH: process.env.PATH, LANG: 'C.UTF-8', DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${BUS_SOCKET(kind)}`, SYSTEMD_COLORS: '0' }
  const daemon = daemons[kind]
  const cpu0 = daemon.cpuMs()
  const self0 = cpuSeconds(daemon.pid)
  const t0 = process.hrtime.bigint()
  const child = spawn('machinectl', ['--quiet', 'import-tar', file, name], { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (c) => { stderr += c })
  const status = await new Promise((resolve) => child.once('close', (code) => resolve(code)))
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (status !== 0) throw new Error(`${LABELS[kind]}: machinectl import-tar failed: ${stderr}`)
  const selfMs = (cpuSeconds(daemon.pid) - self0) * 1000
  // importd's systemd-import may still be on its way out: what it used is counted once it is gone.
  for (let i = 0; i < 40 && hasChildren(daemon.pid); i++) await sleep(25)
  const cpuMs = daemon.cpuMs() - cpu0
  if (!keep) removeImage(name)
  return { ms, cpuMs, selfMs }
}

function removeImage(name) {
  const rm = run('rm', ['-rf', '--one-file-system', `/var/lib/machines/${name}`])
  if (rm.status !== 0) throw new Error(`removing ${name} failed: ${rm.stderr}`)
}

/**
 * Whether every image of the run fits in the pool's file system at once
 * (with a quarter to spare). Images are then removed only at the end:
 * on ext4 without a journal, inode allocation skips the inodes freed in
 * the last minutes (recently_deleted()), and a tree just removed made
 * the next import's tar spend most of its CPU time there, by how much
 * depending on timing rather than on the importer.
 */
function keepAllImages(opts, tarballBytes) {
  const imports = opts.formats.length * opts.daemons.length * (opts.runs + 1)
  const st = statfsSync('/var/lib/machines')
  return st.bavail * st.bsize > imports * tarballBytes * 1.25
}

function hasChildren(pid) {
  const children = readText(`/proc/${pid}/task/${pid}/children`)
  return children !== undefined && children.trim() !== ''
}

async function inner(argv) {
  const { tag, sliceExisted } = innerContext()
  const opts = parseOptions(argv)
  const procs = new Set()
  cleanUpOnSignal(procs, tag, sliceExisted)
  const results = { machine: machineInfo(), options: { ...opts, help: undefined, json: undefined }, imports: [] }
  const pool = mkdtempSync('/var/tmp/machined-ts-bench-pool-')
  const work = mkdtempSync('/var/tmp/machined-ts-bench-tarballs-')
  let code = 0
  try {
    enterPrivateRun()
    mkdirSync('/run/systemd/system', { recursive: true })
    mountPool(pool)
    makeTree(join(work, 'tree'), opts.treeMiB)
    const files = { tar: join(work, 'tree.tar'), 'tar.gz': join(work, 'tree.tar.gz') }
    run('tar', ['--numeric-owner', '-C', join(work, 'tree'), '-cf', files.tar, '.'])
    if (opts.formats.includes('tar.gz')) run('sh', ['-c', `gzip -1 -c '${files.tar}' > '${files['tar.gz']}'`])
    rmSync(join(work, 'tree'), { recursive: true, force: true })
    for (const kind of opts.daemons) await startService(kind, procs, tag)
    const keep = keepAllImages(opts, statSync(files.tar).size)
    results.imagesKeptUntilTheEnd = keep
    log(keep ? 'images are removed at the end (none is removed while others are imported)' : 'not enough room to keep every image: each is removed after its import')
    for (const format of opts.formats) {
      const times = { systemd: [], ts: [] }
      const cpus = { systemd: [], ts: [] }
      const selves = { systemd: [], ts: [] }
      const loads = []
      // One import each first, not counted: both read the tarball from the page cache from then on.
      for (const kind of opts.daemons) await importOnce(kind, files[format], `warm-${kind}-${format.replace('.', '')}`, keep)
      for (let i = 0; i < opts.runs; i++) {
        const order = i % 2 === 0 ? ['systemd', 'ts'] : ['ts', 'systemd']
        for (const kind of order) {
          const { ms, cpuMs, selfMs } = await importOnce(kind, files[format], `img-${kind}-${format.replace('.', '')}-${i}`, keep)
          times[kind].push(ms)
          cpus[kind].push(cpuMs)
          selves[kind].push(selfMs)
        }
        loads.push(load1())
        log(`${format} ${i + 1}: systemd-importd ${times.systemd.at(-1).toFixed(0)} ms (CPU ${cpus.systemd.at(-1).toFixed(0)}), machined-ts ${times.ts.at(-1).toFixed(0)} ms (CPU ${cpus.ts.at(-1).toFixed(0)}, the daemon itself ${selves.ts.at(-1).toFixed(0)}), load ${loads.at(-1)}`)
      }
      const side = (kind) => ({ median_ms: median(times[kind]), median_cpu_ms: median(cpus[kind]), median_daemon_cpu_ms: median(selves[kind]), runs: times[kind], cpu_ms: cpus[kind] })
      results.imports.push({ format, load1: { min: Math.min(...loads), max: Math.max(...loads) }, systemd: side('systemd'), ts: side('ts') })
    }
  } catch (err) {
    log(`failed: ${err.stack ?? err.message}`)
    results.error = err.message
    code = 1
  } finally {
    if (!(await stopAndClean(procs, undefined, tag, sliceExisted))) code = 1
    run('umount', ['/var/lib/machines'])
    rmSync(pool, { recursive: true, force: true })
    rmSync(work, { recursive: true, force: true })
  }
  publishResults(results, formatTable(results, opts), opts.json)
  return code
}

function formatTable(results, opts) {
  const m = results.machine
  const out = [`machine: ${m.nproc} CPUs (${m.cpu}), kernel ${m.kernel}, node ${m.node}; machined-ts ${m.machinedTs}`, '']
  out.push(`machinectl import-tar of a ${opts.treeMiB} MiB tree, median of ${opts.runs} interleaved runs (lower is better)`, '')
  out.push('CPU: all processes in the daemon cgroup (the daemon, tar; for importd, systemd-import and its tar)', '')
  out.push('| tarball | load (1 min) | systemd-importd 252 ms | machined-ts ms | ratio | importd CPU ms | machined-ts CPU ms | CPU ratio |', '|---|---|---:|---:|---:|---:|---:|---:|')
  const fmt = (v, d) => (v === undefined ? 'n/a' : v.toFixed(d))
  for (const r of results.imports) {
    out.push(`| ${r.format} | ${r.load1.min}–${r.load1.max} | ${fmt(r.systemd.median_ms, 0)} | ${fmt(r.ts.median_ms, 0)} | ${fmt(r.ts.median_ms / r.systemd.median_ms, 2)} | ${fmt(r.systemd.median_cpu_ms, 0)} | ${fmt(r.ts.median_cpu_ms, 0)} | ${fmt(r.ts.median_cpu_ms / r.systemd.median_cpu_ms, 2)} |`)
  }
  if (results.error) out.push(`run failed: ${results.error}`)
  return out.join('\n')
}

const argv = process.argv.slice(2)
const code = isInner()
  ? await inner(argv)
  : await outerRun(fileURLToPath(import.meta.url), argv, { parseOptions, help: HELP, commands: ['machinectl', 'tar', 'gzip', 'busctl'], build: (o) => o.build, builtFile: 'dist/daemon/main.js' })
process.exit(code)
