#!/usr/bin/env node
// The test command (README, .ci/run): type-check everything, lint, build the
// package the way `npm ci` does, then run every test file with Node's own
// runner. Node 20's --test takes no globs, so the files are listed here.
// Pass file paths to run only those, e.g. `npm test -- test/unit/hostname.test.ts`.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
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

const selected = process.argv.slice(2)
run('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'])
run('npx', ['tsc', '-p', 'tsconfig.layers.json', '--noEmit'])
run('npx', ['tsc', '-p', 'src/web/ui/tsconfig.json', '--noEmit'])
run('npx', ['eslint', '--max-warnings=0', '.'])
run('npx', ['tsc', '-p', 'tsconfig.build.json'])
run(process.execPath, ['scripts/build-ui.js'])
const files = selected.length > 0 ? selected : findTests('test')
// End-to-end tests share the host's cgroup tree and the real clients: one file at a time.
run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files])
