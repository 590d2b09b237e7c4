#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node bench/run.js --profile`, which runs
// machined-ts under `node --cpu-prof`): the functions with the most self
// time, and the functions with the most total (inclusive) time.
//
//   node bench/profile-summary.js bench/results/profiles/CPU.*.cpuprofile [--top=25]
//       [--phase=REGEX [--results=bench/results/latest.json]]
//
// --phase keeps only the samples taken during the phases of machined-ts's
// run whose names match REGEX (pairs-1, register-1000, list-10000,
// pairs-loaded, unregister-all, pairs-own-scopes; see "phases" in the
// results file). Both sides use CLOCK_MONOTONIC microseconds.
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const { values, positionals } = parseArgs({ allowPositionals: true, options: {
  top: { type: 'string', default: '25' },
  phase: { type: 'string' },
  results: { type: 'string', default: fileURLToPath(new URL('results/latest.json', import.meta.url)) },
} })
if (positionals.length !== 1) {
  process.stderr.write('usage: node bench/profile-summary.js FILE.cpuprofile [--top=N]\n')
  process.exit(2)
}
const top = Number(values.top)
const profile = JSON.parse(readFileSync(positionals[0], 'utf8'))

let windows
if (values.phase !== undefined) {
  const re = new RegExp(values.phase)
  const phases = JSON.parse(readFileSync(values.results, 'utf8')).daemons?.ts?.phases ?? []
  windows = phases.filter((p) => re.test(p.name))
  if (windows.length === 0) {
    process.stderr.write(`no phase matches ${values.phase}; phases: ${phases.map((p) => p.name).join(', ')}\n`)
    process.exit(2)
  }
  if (windows.every((w) => w.endUs < profile.startTime || w.startUs > profile.endTime)) {
    process.stderr.write('the phases fall outside this profile: is it from the same run as the results file?\n')
    process.exit(2)
  }
}
const inWindow = (t) => windows === undefined || windows.some((w) => t >= w.startUs && t <= w.endUs)

const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

// Time per sample: timeDeltas[i] is the gap before sample i.
const selfUs = new Map()
const deltas = profile.timeDeltas ?? []
let t = profile.startTime
for (let i = 0; i < profile.samples.length; i++) {
  t += deltas[i] ?? 0
  if (!inWindow(t)) continue
  const id = profile.samples[i]
  const dt = deltas[i + 1] ?? deltas[i] ?? 0
  selfUs.set(id, (selfUs.get(id) ?? 0) + dt)
}

function label(node) {
  const f = node.callFrame
  const url = f.url.startsWith('file://') ? relative(REPO, fileURLToPath(f.url)) : f.url
  const name = f.functionName || '(anonymous)'
  return url === '' ? name : `${name} ${url}:${f.lineNumber + 1}`
}

const self = new Map()
const total = new Map()
let all = 0
let idle = 0
for (const [id, us] of selfUs) {
  const node = byId.get(id)
  all += us
  const name = label(node)
  if (name === '(idle)') idle += us
  self.set(name, (self.get(name) ?? 0) + us)
  // Inclusive: every distinct function on the stack gets the sample once.
  const seen = new Set()
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur))
    if (seen.has(l)) continue
    seen.add(l)
    total.set(l, (total.get(l) ?? 0) + us)
  }
}

const busy = all - idle
const ms = (us) => (us / 1000).toFixed(1).padStart(9)
const pct = (us) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`
const show = (title, map) => {
  process.stdout.write(`\n${title} (ms, % of ${(busy / 1000).toFixed(0)} ms busy)\n`)
  const rows = [...map].filter(([k]) => k !== '(idle)' && k !== '(root)').sort((a, b) => b[1] - a[1]).slice(0, top)
  for (const [name, us] of rows) process.stdout.write(`${ms(us)} ${pct(us)}  ${name}\n`)
}
const where = windows === undefined ? '' : ` during ${windows.map((w) => w.name).join(', ')}`
process.stdout.write(`profile: ${(all / 1000).toFixed(0)} ms sampled${where}, ${(idle / 1000).toFixed(0)} ms idle\n`)
show('Self time', self)
show('Total time', total)
