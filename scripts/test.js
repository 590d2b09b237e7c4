#!/usr/bin/env node
// The test command (README, .ci/run): type-check everything, lint, build
// the package the way `npm ci` does, then run every test file with Node's
// own runner, as root. Node 20's --test takes no globs, so the files are
// listed here. Pass file paths to run only those, e.g.
// `npm test -- test/unit/hostname.test.ts`.
// `--unit` (`npm run test:unit`) runs only test/unit and test/contract, as
// any user and with nothing built first: the few tests there that need
// root say so and are skipped (test/helpers/privilege.ts).
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}

function findTests(dir) {
  const out = []
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...findTests(p))
    else if (name.endsWith('.test.ts')) out.push(p)
  }
  return out
}

const unit = process.argv[2] === '--unit'
const selected = process.argv.slice(unit ? 3 : 2)
if (unit) {
  const files = selected.length > 0 ? selected : [...findTests('test/unit'), ...findTests('test/contract')]
  // Unit and contract files share nothing: as many at a time as there are CPUs.
  run(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${availableParallelism()}`, '--test-reporter=spec', ...files])
  process.exit(0)
}
if (process.getuid?.() !== 0) {
  console.error('npm test runs as root: its end-to-end tests make namespaces, cgroups and mounts. `npm run test:unit` runs the unit and contract tests as any user.')
  process.exit(1)
}
run('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'])
run('npx', ['tsc', '-p', 'tsconfig.layers.json', '--noEmit'])
run('npx', ['tsc', '-p', 'src/web/ui/tsconfig.json', '--noEmit'])
run('npx', ['eslint', '--max-warnings=0', '.'])
run('npx', ['knip'])
run('npx', ['tsc', '-p', 'tsconfig.build.json'])
run(process.execPath, ['scripts/build-ui.js'])
run(process.execPath, ['scripts/build-bins.js'])
// The tests start the bins as the README does, with `npx`. npm 11's npx
// runs a project's own bin by installing the project into its cache first
// (running its `prepare`, a whole build): once per clone, and slow enough
// to overrun a test's start-up limit. Done here, before any test times it.
run('npx', ['--no-install', 'machined', '--version'])
const files = selected.length > 0 ? selected : findTests('test')
// End-to-end tests share the host's cgroup tree and the real clients: one file at a time.
run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files])
