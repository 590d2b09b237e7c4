#!/usr/bin/env node
// `npm run bench:quick`: a regression guard in under a minute. It runs a
// small subset of bench/clients.js and bench/spawn-boot.js (fewer pairs,
// runs and boots), prints each issue-16 ratio next to its goal, and exits 1
// when a ratio misses its goal by more than the noise band measured for it
// on the 2-CPU test machine (bench/README.md). Timing never belongs in
// `npm test`; this is run by hand or by a job of its own. Needs root, like
// the benches it runs. It measures the dist/ there is (`npm ci` builds it;
// --build to build first).
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const REPO = dirname(BENCH_DIR)
const RESULTS = join(BENCH_DIR, 'results')

const HELP = `node bench/quick.js [--build] [--no-spawn]

Runs bench/clients.js (500 warm-up pairs, then 1,000, and 20 cold starts) and
bench/spawn-boot.js --quick (2 boots each), prints the ratios of issue 16 with their
goals and noise bands, and exits 1 when one misses its goal by more than its
band. Root only. --build builds dist/ and the bundles first (about 30 s
more); --no-spawn skips the container boots.
`

/**
 * The guarded ratios. `band`: how far apart two quick runs put the ratio on
 * the 2-CPU test machine, as a fraction of the goal (bench/README.md); a
 * ratio beyond goal × (1 ± band), on the wrong side, fails the run.
 */
const GOALS = [
  { name: 'D-Bus pairs/s, machined-ts / systemd-machined', goal: 1.0, higher: true, band: 0.5,
    ratio: (c) => c.daemons.ts.pairs.dbus.median_pairs_per_s / c.daemons.systemd.pairs.dbus.median_pairs_per_s },
  { name: 'Varlink pairs/s, machined-ts / systemd-machined D-Bus', goal: 3.0, higher: true, band: 0.5,
    ratio: (c) => c.daemons.ts.pairs.varlink.median_pairs_per_s / c.daemons.systemd.pairs.dbus.median_pairs_per_s },
  { name: '`mctl list` (10 machines) / `node -e 0`', goal: 1.3, higher: false, band: 0.3,
    ratio: (c) => cold(c, 'mctl list') / cold(c, 'node -e 0') },
  { name: '`mctl --version` / `node -e 0`', goal: 1.1, higher: false, band: 0.3,
    ratio: (c) => cold(c, 'mctl --version (no daemon calls)') / cold(c, 'node -e 0') },
  { name: '`machined-spawn -b` / systemd-nspawn, to multi-user.target', goal: 1.0, higher: false, band: 0.25, spawn: true,
    ratio: (_c, s) => median(s.times['machined-spawn'].multiUser) / median(s.times.nspawn.multiUser) },
]

/** A cold start's median, as the full bench reports it. */
function cold(clients, label) {
  return clients.daemons.ts.coldStart.commands[label].median_ms
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

function run(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] })
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status ?? r.signal})`)
}

function main() {
  const { values } = parseArgs({ options: { build: { type: 'boolean', default: false }, 'no-spawn': { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } })
  if (values.help) { process.stdout.write(HELP); return 0 }
  if (process.getuid() !== 0) { process.stderr.write('bench:quick runs as root (its benches make namespaces and cgroups)\n'); return 1 }
  const started = performance.now()
  if (values.build) {
    run(['npx', 'tsc', '-p', 'tsconfig.build.json'])
    run([process.execPath, 'scripts/build-bins.js'])
  }
  mkdirSync(RESULTS, { recursive: true })
  // 500 warm-up pairs: V8 optimises the daemon's hot code over its first few hundred calls; fewer measure the interpreter.
  const clientsJson = join(RESULTS, 'quick-clients.json')
  const spawnJson = join(RESULTS, 'quick-spawn-boot.json')
  run([process.execPath, 'bench/clients.js', '--no-build', '--no-floor', '--pairs=1000', '--rounds=1', '--warmup=500', '--runs=20', `--json=${clientsJson}`])
  if (!values['no-spawn']) run([process.execPath, 'bench/spawn-boot.js', '--no-build', '--quick', '--rounds=2', `--json=${spawnJson}`])
  const clients = JSON.parse(readFileSync(clientsJson, 'utf8'))
  const spawnBoot = values['no-spawn'] ? undefined : JSON.parse(readFileSync(spawnJson, 'utf8'))

  let failed = 0
  const rows = []
  for (const g of GOALS) {
    if (g.spawn && spawnBoot === undefined) continue
    const ratio = g.ratio(clients, spawnBoot)
    const limit = g.higher ? g.goal * (1 - g.band) : g.goal * (1 + g.band)
    const met = g.higher ? ratio >= g.goal : ratio <= g.goal
    const regressed = g.higher ? ratio < limit : ratio > limit
    if (regressed) failed++
    rows.push(`| ${g.name} | ${ratio.toFixed(2)} | ${g.higher ? '≥' : '≤'} ${g.goal.toFixed(1)} | ±${(g.band * 100).toFixed(0)} % | ${regressed ? 'FAIL' : met ? 'met' : 'within band'} |`)
  }
  process.stdout.write([
    '| ratio | measured | goal | band | |',
    '|---|---:|---:|---:|---|',
    ...rows,
  ].join('\n') + `\n\n${((performance.now() - started) / 1000).toFixed(0)} s; figures in ${clientsJson}${spawnBoot === undefined ? '' : ` and ${spawnJson}`}\n`)
  if (failed > 0) process.stdout.write(`${failed} ratio(s) beyond goal and band\n`)
  return failed > 0 ? 1 : 0
}

process.exitCode = main()
