#!/usr/bin/env node
// Benchmark (issue 12): the image pool.
//   (a) ListImages with 1,000 directory images, machined-ts next to the
//       real systemd-machined 252: latency of the D-Bus call (the same
//       python3-dbus client as bench/run.js), and the whole
//       `machinectl list-images` process, whose output must be the same.
//       machined-ts runs with --measure-image-usage=no, doing what
//       systemd-machined does (no tree walked); a second row shows it with
//       its default (directory usage measured in the background).
//   (b) CloneImage of a 1 GiB tree on this machine's file system (ext4
//       here: a full copy) against `cp -a --reflink=auto` of the same tree,
//       interleaved.
// The pool is a fresh directory under /var/tmp bind-mounted over
// /var/lib/machines inside the run's private mount namespace (bench/lib/
// isolation.js), so the host's pool is never touched. Run as root:
// `node bench/images.js` (--help).
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { BUS_ADDRESS } from './lib/bus.js'
import { cgroupMounts } from './lib/cgroups.js'
import { BENCH_DIR, log, median, run, sleep } from './lib/common.js'
import { DAEMONS, startDaemon, stopDaemon } from './lib/daemons.js'
import { machineInfo } from './lib/host.js'
import { agentInPool, cleanUpOnSignal, enterPrivateRun, innerContext, isInner, outerRun, publishResults, stopAndClean } from './lib/isolation.js'
import { mountPool } from './lib/pool.js'
import { findPython } from './lib/processes.js'

const HELP = `node bench/images.js [OPTIONS]

(a) ListImages latency and \`machinectl list-images\` wall time with N
    directory images, machined-ts next to systemd-machined 252;
(b) CloneImage of a tree of N MiB against cp -a --reflink=auto.
Must run as root; touches nothing of the host (private mount namespace, a
pool under /var/tmp bind-mounted over /var/lib/machines, removed after).

Options:
  --images=N     Directory images in the pool (default 1000)
  --calls=N      Timed ListImages calls (default 200)
  --runs=N       machinectl list-images runs, and clone/cp pairs (default 20 / 15)
  --tree-mib=N   Size of the tree cloned, in MiB (default 1024)
  --only=WHICH   list | clone | both (default both)
  --no-build     Do not run \`tsc -p tsconfig.build.json\` first
  --json=FILE    Where to write results (default bench/results/images.json)
  -h, --help     Show this help
`

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      images: { type: 'string', default: '1000' }, calls: { type: 'string', default: '200' }, runs: { type: 'string' },
      'tree-mib': { type: 'string', default: '1024' }, only: { type: 'string', default: 'both' },
      'no-build': { type: 'boolean', default: false }, json: { type: 'string', default: join(BENCH_DIR, 'results', 'images.json') },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const int = (v, name, min) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} wants a whole number ≥ ${min}, got ${v}`)
    return n
  }
  if (!['list', 'clone', 'both'].includes(values.only)) throw new Error('--only is list, clone or both')
  return {
    help: values.help, images: int(values.images, 'images', 1), calls: int(values.calls, 'calls', 1),
    listRuns: int(values.runs ?? '20', 'runs', 1), clonePairs: int(values.runs ?? '15', 'runs', 1), treeMiB: int(values['tree-mib'], 'tree-mib', 1),
    list: values.only !== 'clone', clone: values.only !== 'list', daemons: values.only === 'clone' ? ['ts'] : ['systemd', 'ts'],
    build: !values['no-build'], json: values.json,
  }
}

const env = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', TZ: 'UTC', DBUS_SYSTEM_BUS_ADDRESS: BUS_ADDRESS, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' })

function timed(argv) {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(argv[0], argv.slice(1), { env: env(), encoding: 'utf8', maxBuffer: 64 << 20 })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`)
  return { ms, stdout: r.stdout }
}

async function listImages(kind, opts, agent, procs, extraArgs, label) {
  const started = await startDaemon(kind, { agent, procs, extraArgs })
  // machinectl refuses to run unless this exists (sd_booted()); it is the private /run's.
  mkdirSync('/run/systemd/system', { recursive: true })
  try {
    if (extraArgs.length === 0 && kind === 'ts') {
      // Let the background measurements of every directory finish first: the timed calls then see a settled daemon.
      const measured = () => timed(['machinectl', 'list-images']).stdout.split('\n').filter((l) => /^img\d+ +directory +no +\d/.test(l)).length
      for (let i = 0; i < 1200 && measured() < opts.images; i++) await sleep(100)
      log(`${label}: ${measured()} of ${opts.images} directories measured`)
    }
    const calls = await agent.call('list', { calls: opts.calls, warmup: 20, expect: opts.images + 1, method: 'ListImages' })
    const output = timed(['machinectl', 'list-images']).stdout
    const wall = []
    for (let i = 0; i < opts.listRuns; i++) wall.push(timed(['machinectl', 'list-images']).ms)
    log(`${label}: ListImages median ${calls.median_ms.toFixed(2)} ms, machinectl list-images median ${median(wall).toFixed(1)} ms`)
    return { label, listImages: calls, machinectlListImages: { median_ms: median(wall), runs: wall.length }, output }
  } finally {
    await stopDaemon(started)
  }
}

/** A tree of `mib` MiB: 1 MiB files (random data, so nothing is sparse or shared) in 32 directories, and a few small ones. */
function makeTree(dir, mib) {
  const r = run('sh', ['-c', `for d in $(seq 0 31); do mkdir -p "$1/d$d"; done; for i in $(seq 0 $(($2 - 1))); do head -c 1048576 /dev/urandom > "$1/d$((i % 32))/f$i"; done; for i in $(seq 0 999); do echo $i > "$1/d$((i % 32))/small$i"; done`, 'sh', dir, String(mib)])
  if (r.status !== 0) throw new Error(`making the tree failed: ${r.stderr}`)
}

/** The same tree copied by cp, and cloned by machined-ts (over a connected D-Bus client, as for ListImages), interleaved. */
async function clone(opts, agent, procs) {
  makeTree('/var/lib/machines/tree', opts.treeMiB)
  run('sync')
  const started = await startDaemon('ts', { agent, procs, extraArgs: ['--measure-image-usage=no'] })
  const cp = []
  const ours = []
  try {
    // Every copy starts from a quiet file system (sync -f first, not timed): write-back left over from one run
    // would otherwise land in the next, on a machine others share. Which goes first alternates.
    const quiesce = () => run('sync', ['-f', '/var/lib/machines'])
    const viaCp = (i) => {
      quiesce()
      cp.push(timed(['cp', '-a', '--reflink=auto', '/var/lib/machines/tree', `/var/lib/machines/cp${i}`]).ms)
      rmSync(`/var/lib/machines/cp${i}`, { recursive: true, force: true })
    }
    const viaClone = async (i) => {
      quiesce()
      ours.push((await agent.call('clone_image', { name: 'tree', new_name: `clone${i}` })).ms)
      rmSync(`/var/lib/machines/clone${i}`, { recursive: true, force: true })
    }
    for (let i = 0; i < opts.clonePairs; i++) {
      if (i % 2 === 0) { viaCp(i); await viaClone(i) } else { await viaClone(i); viaCp(i) }
      log(`clone ${i + 1}: cp ${cp.at(-1).toFixed(0)} ms, CloneImage ${ours.at(-1).toFixed(0)} ms`)
    }
  } finally {
    await stopDaemon(started)
  }
  return { treeMiB: opts.treeMiB, cp: { median_ms: median(cp), runs: cp }, cloneImage: { median_ms: median(ours), runs: ours } }
}

async function inner(argv) {
  const { tag, sliceExisted } = innerContext()
  const opts = parseOptions(argv)
  const procs = new Set()
  let agent
  cleanUpOnSignal(procs, tag, sliceExisted)
  const results = { machine: machineInfo(), options: { ...opts, help: undefined, json: undefined }, list: [], clone: undefined }
  const pool = mkdtempSync('/var/tmp/machined-ts-bench-pool-')
  let code = 0
  try {
    enterPrivateRun()
    mountPool(pool)
    agent = await agentInPool(findPython().path, cgroupMounts().tracking, tag)
    if (opts.list) {
      for (let i = 0; i < opts.images; i++) {
        mkdirSync(`/var/lib/machines/img${String(i).padStart(4, '0')}/etc`, { recursive: true })
        writeFileSync(`/var/lib/machines/img${String(i).padStart(4, '0')}/etc/os-release`, 'ID=bench\n')
      }
      results.list.push(await listImages('systemd', opts, agent, procs, [], DAEMONS.systemd.label))
      results.list.push(await listImages('ts', opts, agent, procs, ['--measure-image-usage=no'], 'machined-ts, --measure-image-usage=no'))
      if (results.list[1].output !== results.list[0].output) throw new Error('machinectl list-images printed something else against machined-ts')
      results.list.push(await listImages('ts', opts, agent, procs, [], 'machined-ts, directory usage measured (default)'))
      for (const r of results.list) delete r.output
      run('sh', ['-c', 'rm -rf /var/lib/machines/img*'])
    }
    if (opts.clone) results.clone = await clone(opts, agent, procs)
  } catch (err) {
    log(`failed: ${err.stack ?? err.message}`)
    results.error = err.message
    code = 1
  } finally {
    if (!(await stopAndClean(procs, agent, tag, sliceExisted))) code = 1
    run('umount', ['/var/lib/machines'])
    rmSync(pool, { recursive: true, force: true })
  }
  publishResults(results, formatTables(results, opts), opts.json)
  return code
}

const fmt = (v, d) => (v === undefined ? 'n/a' : v.toFixed(d))

function formatTables(results, opts) {
  const m = results.machine
  const out = [`machine: ${m.nproc} CPUs (${m.cpu}), kernel ${m.kernel}, node ${m.node}, ${m.systemdMachined}; machined-ts ${m.machinedTs}`, '']
  if (results.list.length > 0) {
    const base = results.list[0]
    out.push(`(a) ${opts.images} directory images (lower is better)`, '')
    out.push('| daemon | ListImages median ms | p95 ms | ratio | `machinectl list-images` median ms | ratio |', '|---|---:|---:|---:|---:|---:|')
    for (const r of results.list) {
      out.push(`| ${r.label} | ${fmt(r.listImages.median_ms, 2)} | ${fmt(r.listImages.p95_ms, 2)} | ${fmt(r.listImages.median_ms / base.listImages.median_ms, 2)} | ${fmt(r.machinectlListImages.median_ms, 1)} | ${fmt(r.machinectlListImages.median_ms / base.machinectlListImages.median_ms, 2)} |`)
    }
    out.push('')
  }
  if (results.clone !== undefined) {
    const c = results.clone
    out.push(`(b) clone of a ${c.treeMiB} MiB tree on this machine's file system, each from a synced file system, median of ${c.cp.runs.length} interleaved runs (lower is better)`, '')
    out.push('| what | median ms | ratio |', '|---|---:|---:|')
    out.push(`| cp -a --reflink=auto | ${fmt(c.cp.median_ms, 0)} | 1.00 |`)
    out.push(`| CloneImage (D-Bus call → machined-ts) | ${fmt(c.cloneImage.median_ms, 0)} | ${fmt(c.cloneImage.median_ms / c.cp.median_ms, 2)} |`)
  }
  if (results.error) out.push(`run failed: ${results.error}`)
  return out.join('\n')
}

const argv = process.argv.slice(2)
const code = isInner()
  ? await inner(argv)
  : await outerRun(fileURLToPath(import.meta.url), argv, { parseOptions, help: HELP, commands: ['machinectl', 'cp'], build: (o) => o.build, builtFile: 'dist/daemon/main.js' })
process.exit(code)
