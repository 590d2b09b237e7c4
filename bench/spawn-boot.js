#!/usr/bin/env node
// Benchmark: how fast machined-spawn boots a Debian tree to multi-user.target
// (and to `systemctl is-system-running` = running), next to
// `systemd-nspawn -b --register=no --keep-unit` and to `systemd-nspawn -b`
// registering with machined-ts, on the same tree. Run as
// root: `node bench/spawn-boot.js` (--help). See bench/README.md.
//
// Layout of a run:
//   outer process   checks prerequisites, builds the package and the cached
//                   Debian tree (test/helpers/debian-tree.ts), re-execs itself
//                   inside `unshare -m --propagation private`.
//   inner process   mounts a tmpfs on /run, starts a system bus and machined
//                   (machined-spawn registers through it), then for each
//                   round boots each manager once on a fresh overlay of the
//                   tree, in alternating order, and powers it off again.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { cgroupMounts, killAndRemove } from './lib/cgroups.js'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const REPO = dirname(BENCH_DIR)
const CACHE = process.env.MACHINED_TS_CACHE ?? '/var/tmp/machined-ts'
const MULTI_USER = /Reached target .*multi-user\.target/
const NSPAWN_REGISTERING = 'nspawn --register=yes'

const HELP = `node bench/spawn-boot.js [OPTIONS]

Boot time of machined-spawn -b against systemd-nspawn -b --register=no
--keep-unit on the same Debian bookworm tree (debootstrap minbase + systemd,
dbus; built once and cached under ${CACHE}); also of machined-spawn -b
--register=no, and of systemd-nspawn -b registering with machined-ts (the
same work as machined-spawn -b, registration included). Each boot gets a fresh overlay
of the tree. Measured from launching the manager to "Reached target
multi-user.target" on the console, and to \`systemctl is-system-running\`
answering "running". Must run as root; touches nothing of the host's /run.

Options:
  --rounds=N     Boots per manager (default 7); the median is reported
  --quick        For bench:quick: only machined-spawn (registering) and nspawn
                 --register=no, and one untimed boot (nspawn's) to warm the cache
  --no-build     Do not run tsc first
  --json=PATH    Where to write all figures (default bench/results/spawn-boot.json)
`

function log(msg) {
  process.stderr.write(`bench: ${msg}\n`)
}

function sh(argv, options = {}) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', ...options })
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr || r.stdout}`)
  return r.stdout
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

// ── Outer process ──────────────────────────────────────────────────────────

async function outer(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '7' },
      'no-build': { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      json: { type: 'string', default: join(BENCH_DIR, 'results', 'spawn-boot.json') },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) { process.stdout.write(HELP); return 0 }
  if (process.getuid() !== 0) { log('must run as root'); return 1 }
  const rounds = Number(values.rounds)
  if (!Number.isInteger(rounds) || rounds < 1) { log('--rounds wants a whole number'); return 2 }
  for (const cmd of ['unshare', 'systemd-nspawn', 'dbus-daemon', 'debootstrap', 'nsenter']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) { log(`missing: ${cmd}`); return 1 }
  }
  if (!values['no-build']) {
    log('building (tsc -p tsconfig.build.json)')
    sh(['npx', 'tsc', '-p', 'tsconfig.build.json'], { cwd: REPO })
    sh([process.execPath, 'scripts/build-bins.js'], { cwd: REPO })
  }
  log('the Debian tree (debootstrap once, then cached)')
  const tree = sh([process.execPath, '--import', 'tsx', '-e', "const m = await import('./test/helpers/debian-tree.ts'); console.log(await m.debianTree())"], { cwd: REPO }).trim()
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', process.execPath, fileURLToPath(import.meta.url), '--inner', tree, String(rounds), values.json, values.quick ? 'quick' : 'full'], { stdio: 'inherit' })
  return r.status ?? 1
}

// ── Inner process ──────────────────────────────────────────────────────────

function descendants(pid) {
  const out = []
  const stack = [pid]
  while (stack.length > 0) {
    const p = stack.pop()
    let tasks = []
    try { tasks = readdirSync(`/proc/${p}/task`) } catch { continue }
    for (const t of tasks) {
      let children = ''
      try { children = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8') } catch { continue }
      for (const c of children.split(' ').filter((s) => s.trim() !== '').map(Number)) { out.push(c); stack.push(c) }
    }
  }
  return out
}

/** PID 1 of the container below `pid`, once it runs systemd. */
function containerInit(pid) {
  for (const p of descendants(pid)) {
    try {
      const ns = /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1]?.trim().split(/\s+/) ?? []
      if (ns.length >= 2 && ns[ns.length - 1] === '1' && readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'systemd') return p
    } catch { /* gone */ }
  }
  return undefined
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms))
}

/** Waits for `systemctl is-system-running --wait` in the guest to answer; returns its answer. */
async function waitRunning(leader) {
  for (;;) {
    const r = spawnSync('nsenter', ['-t', String(leader), '-a', '--', 'systemctl', 'is-system-running', '--wait'], { encoding: 'utf8' })
    const state = r.stdout.trim()
    if (state !== '' && state !== 'offline' && !r.stderr.includes('Failed to connect')) return state
    await sleep(5)
  }
}

class Overlay {
  constructor(tree) {
    mkdirSync(join(CACHE, 'overlays'), { recursive: true })
    this.base = mkdtempSync(join(CACHE, 'overlays', 'bench-'))
    for (const d of ['upper', 'work', 'merged']) mkdirSync(join(this.base, d))
    this.path = join(this.base, 'merged')
    sh(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${tree},upperdir=${this.base}/upper,workdir=${this.base}/work`, this.path])
  }

  remove() {
    spawnSync('umount', ['-l', this.path])
    rmSync(this.base, { recursive: true, force: true })
  }
}

/** The hierarchies that track processes in this host's layout (from its mount table). */
const CGROUP_ROOTS = cgroupMounts().tracking

function removeCgroup(rel) {
  for (const root of CGROUP_ROOTS) if (existsSync(join(root, rel))) killAndRemove(join(root, rel))
}

/**
 * The environment every manager (and the daemon) runs with: the caller's,
 * less NODE_EXTRA_CA_CERTS. A caller's setting of it makes every Node process
 * read and parse a CA bundle before its first line runs (about 30 ms here, all
 * of it before machined-spawn's first system call of its own); a service
 * manager or a shell starts machined-spawn without it, and systemd-nspawn
 * never reads it. The same environment for all three managers.
 */
function managerEnv() {
  const env = { ...process.env }
  delete env.NODE_EXTRA_CA_CERTS
  return env
}

/** One boot: launch → multi-user.target on the console → running; then a clean shutdown. */
async function boot(manager, tree, name) {
  const overlay = new Overlay(tree)
  const nspawnCgroup = `machine.slice/${name}-bench.scope`
  let argv
  if (manager === 'nspawn') {
    // --keep-unit: nspawn stays in the cgroup it was started in; give it one of its own, never the root.
    const moves = CGROUP_ROOTS.map((root) => { mkdirSync(join(root, nspawnCgroup), { recursive: true }); return `echo $$ > ${join(root, nspawnCgroup, 'cgroup.procs')}` })
    argv = ['sh', '-c', `${moves.join(' && ')} && exec systemd-nspawn -D "$0" -M "$1" -b --register=no --keep-unit`, overlay.path, name]
  } else if (manager === NSPAWN_REGISTERING) {
    // nspawn's defaults: it registers (CreateMachineWithNetwork) with the machined on the bus, machined-ts here,
    // which makes its scope, with the same accounting and device policy as machined-spawn's.
    argv = ['systemd-nspawn', '-D', overlay.path, '-M', name, '-b']
  } else {
    argv = [process.execPath, join(REPO, 'bin/machined-spawn.js'), '-D', overlay.path, '-M', name, '-b', ...(manager === 'machined-spawn --register=no' ? ['--register=no'] : [])]
  }
  const t0 = performance.now()
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: managerEnv() })
  let console = ''
  let multiUser
  const exited = new Promise((r) => child.once('exit', (code) => r(code)))
  const reached = new Promise((resolve) => {
    child.stdout.on('data', (c) => {
      console += c.toString()
      if (multiUser === undefined && MULTI_USER.test(console)) { multiUser = performance.now() - t0; resolve() }
    })
  })
  child.stderr.on('data', (c) => { console += c.toString() })
  try {
    let leader
    while ((leader = containerInit(child.pid)) === undefined) {
      if (child.exitCode !== null) throw new Error(`${manager} exited early:\n${console.slice(-2000)}`)
      await sleep(2)
    }
    const state = await waitRunning(leader)
    const running = performance.now() - t0
    await Promise.race([reached, sleep(5000)])
    if (state !== 'running') throw new Error(`${manager}: the guest is ${state}`)
    // Halt cleanly: SIGTERM makes both managers send SIGRTMIN+3.
    const target = manager === 'nspawn' ? descendants(child.pid).find((p) => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'systemd-nspawn' } catch { return false } }) ?? child.pid : child.pid
    process.kill(target, 'SIGTERM')
    const code = await Promise.race([exited, sleep(30_000).then(() => 'timeout')])
    if (code !== 0) throw new Error(`${manager} ended with ${code}:\n${console.slice(-1000)}`)
    return { multiUser, running }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
    if (manager === 'nspawn') removeCgroup(nspawnCgroup)
    overlay.remove()
  }
}

async function inner(tree, rounds, jsonPath, quick) {
  sh(['mount', '-t', 'tmpfs', '-o', 'mode=755', 'tmpfs', '/run'])
  mkdirSync('/run/systemd/system', { recursive: true })
  mkdirSync('/run/dbus', { recursive: true })
  sh(['dbus-daemon', '--system', '--fork'])
  const daemon = spawn(process.execPath, [join(REPO, 'bin/machined.js')], { stdio: ['ignore', 'ignore', 'pipe'], env: managerEnv() })
  let daemonLog = ''
  await new Promise((resolve, reject) => {
    const onData = (c) => {
      daemonLog += c.toString()
      if (daemonLog.includes('Serving org.freedesktop.machine1')) { daemon.stderr.off('data', onData); daemon.stderr.resume(); resolve() }
    }
    daemon.stderr.on('data', onData)
    daemon.once('exit', () => reject(new Error(`machined exited: ${daemonLog}`)))
  })
  const managers = ['machined-spawn', 'nspawn', ...(quick ? [] : ['machined-spawn --register=no', NSPAWN_REGISTERING])]
  const times = Object.fromEntries(managers.map((m) => [m, { multiUser: [], running: [] }]))
  try {
    log(quick ? 'one untimed boot (page cache)' : 'one untimed boot each (page cache)')
    for (const m of quick ? ['nspawn'] : managers) await boot(m, tree, `warm-${managers.indexOf(m)}`)
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? managers : [...managers].reverse()
      for (const m of order) {
        const t = await boot(m, tree, `bench-${i}-${managers.indexOf(m)}`)
        times[m].multiUser.push(t.multiUser)
        times[m].running.push(t.running)
        log(`round ${i + 1}/${rounds} ${m}: multi-user ${t.multiUser.toFixed(0)} ms, running ${t.running.toFixed(0)} ms`)
      }
    }
  } finally {
    daemon.kill('SIGTERM')
    try { process.kill(Number(readFileSync('/run/dbus/pid', 'utf8')), 'SIGTERM') } catch { /* gone */ }
  }
  const ours = times['machined-spawn']
  const anchor = times.nspawn
  const noreg = times['machined-spawn --register=no']
  const registering = times[NSPAWN_REGISTERING]
  const optional = (t, key) => (t === undefined ? '—' : median(t[key]).toFixed(0))
  const row = (label, key) => `| ${label} | ${median(anchor[key]).toFixed(0)} | ${median(ours[key]).toFixed(0)} | ${(median(ours[key]) / median(anchor[key])).toFixed(2)} | ${optional(noreg, key)} | ${optional(registering, key)} | ${registering === undefined ? '—' : (median(ours[key]) / median(registering[key])).toFixed(2)} |`
  const table = [
    `| launch → (median of ${rounds}, ms) | systemd-nspawn 252 -b --register=no --keep-unit | machined-spawn -b | ratio | machined-spawn -b --register=no | systemd-nspawn 252 -b (registering with machined-ts) | ratio, both registering |`,
    '|---|---:|---:|---:|---:|---:|---:|',
    row('"Reached target multi-user.target"', 'multiUser'),
    row('`systemctl is-system-running` = running', 'running'),
  ].join('\n')
  process.stdout.write(`${table}\n`)
  mkdirSync(dirname(jsonPath), { recursive: true })
  writeFileSync(jsonPath, `${JSON.stringify({ date: new Date().toISOString(), rounds, tree, times }, null, 2)}\n`)
  log(`figures in ${jsonPath}`)
  return 0
}

const argv = process.argv.slice(2)
if (argv[0] === '--inner') {
  process.exitCode = await inner(argv[1], Number(argv[2]), argv[3], argv[4] === 'quick')
} else {
  process.exitCode = await outer(argv)
}
