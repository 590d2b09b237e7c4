#!/usr/bin/env node
// Where a daemon's CPU time goes, from `perf record -e cpu-clock -g` samples
// (bench/run.js or bench/clients.js --perf-record): each sample of the main
// thread is put in the category of the innermost frame of our own code on
// its stack (a JSON.parse called from the Varlink message code is "Varlink
// JSON"; the kernel's part of a write() made for a state file is "state
// files"), garbage collection wherever it runs, and the other threads
// (V8's compiler and GC helpers, libuv's pool) apart.
//
//   node bench/perf-summary.js bench/results/perf/ts.varlink.data [--per=1000]
//
// --per divides the CPU time by that count (e.g. the pairs of the round);
// --detail=PREFIX also lists the innermost frames of the samples in the
// categories whose name starts with PREFIX ("state files", "core", …).
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { SourceMap } from 'node:module'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({ allowPositionals: true, options: {
  per: { type: 'string' },
  top: { type: 'string', default: '0' },
  detail: { type: 'string' },
} })
if (positionals.length !== 1) {
  process.stderr.write('usage: node bench/perf-summary.js FILE.data [--per=N] [--detail=CATEGORY]\n')
  process.exit(2)
}

/** First match wins, innermost frame of ours first: [category, test on "symbol (dso)"]. */
const OURS = [
  ['Varlink framing (NUL-separated frames)', /dist\/wire\/varlink\//],
  ['Varlink JSON parse and encode', /dist\/transports\/varlink\/(message|encode)\.js/],
  ['Varlink validation (decode, types)', /dist\/transports\/varlink\/(decode|values)\.js/],
  ['Varlink dispatch and connection', /dist\/transports\/varlink\//],
  ['D-Bus wire (framing, marshalling)', /dist\/wire\/dbus\//],
  ['D-Bus dispatch (object tree, credentials)', /dist\/transports\/dbus\//],
  ['socket I/O through the addon (recvmsg, sendmsg)', /dist\/native\/fd-(socket|writer)\.js/],
  ['state files (format, write, rename, link)', /dist\/(backends\/state-dir|core\/state-file|core\/env-file|core\/machine-save)\.js/],
  ['cgroup reads and writes (unit of a PID, scopes)', /dist\/(backends\/cgroup-units|linux\/cgroup-[a-z]+)\.js/],
  ['/proc reads and pidfds (pin, owner, alive)', /dist\/(linux\/proc|backends\/pidfd|backends\/procfs|native\/pidfd)\.js/],
  ['exit and cgroup watches (epoll set, inotify)', /dist\/backends\/(fd-poller|inotify)\.js|dist\/native\/poll-set\.js/],
  ['core (registry, checks, events)', /dist\/core\//],
  ['daemon wiring and log', /dist\/daemon\//],
  ['node:net socket I/O', /node:(net|internal\/stream|stream|internal\/streams)/],
]
const GC = /v8::internal::(Heap|Scavenger|MarkCompact|ScavengeJob|MinorMarkCompact|IncrementalMarking|ConcurrentMarking)|Builtins_RecordWrite/

const r = spawnSync('perf', ['script', '-i', positionals[0], '-F', 'tid,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 1 << 30 })
if (r.status !== 0) {
  process.stderr.write(r.stderr)
  process.exit(1)
}

/**
 * The daemon runs from one esbuild bundle (dist/daemon/machined.bundle.cjs),
 * so a JavaScript frame names the bundle, not the module: its position is
 * looked up in the bundle's source map and the frame renamed to the module
 * it came from, as dist/ has it ("src/core/register.ts" → "dist/core/register.js"),
 * which is what the categories test.
 */
const sourceMaps = new Map()
function unbundle(frame) {
  const m = /^(.* )(\/\S+\.bundle\.cjs):(\d+):(\d+)( .*)?$/.exec(frame)
  if (m === null) return frame
  const [, head, bundle, line, column, tail = ''] = m
  if (!sourceMaps.has(bundle)) {
    const file = `${bundle}.map`
    sourceMaps.set(bundle, existsSync(file) ? new SourceMap(JSON.parse(readFileSync(file, 'utf8'))) : undefined)
  }
  const entry = sourceMaps.get(bundle)?.findEntry(Number(line) - 1, Number(column) - 1)
  if (entry?.originalSource === undefined) return frame
  const source = resolve(dirname(bundle), entry.originalSource).replace(/\/src\/(.*)\.ts$/, '/dist/$1.js')
  return `${head}${source}:${entry.originalLine + 1}${tail}`
}

const samples = []
let current
for (const line of r.stdout.split('\n')) {
  if (/^\s*\d+\s*$/.test(line)) {
    current = { tid: Number(line.trim()), frames: [] }
    samples.push(current)
  } else if (line.startsWith('\t') || line.startsWith(' ')) {
    current?.frames.push(unbundle(line.trim()))
  }
}
if (samples.length === 0) {
  process.stderr.write('no samples\n')
  process.exit(1)
}

// The main thread is the one with the most samples (the event loop).
const perTid = new Map()
for (const s of samples) perTid.set(s.tid, (perTid.get(s.tid) ?? 0) + 1)
const mainTid = [...perTid].sort((a, b) => b[1] - a[1])[0][0]

const byCategory = new Map()
const detail = new Map()
const add = (k) => byCategory.set(k, (byCategory.get(k) ?? 0) + 1)
for (const s of samples) {
  if (s.frames.some((f) => GC.test(f))) { add('garbage collection (any thread)'); continue }
  if (s.tid !== mainTid) { add('other threads (V8 compiler, libuv pool)'); continue }
  let category
  for (const f of s.frames) {
    category = OURS.find(([, re]) => re.test(f))?.[0]
    if (category !== undefined) break
  }
  if (category === undefined) category = s.frames[0]?.includes('[kernel') ? 'event loop: kernel (epoll, wake-ups, scheduling)' : 'event loop: Node, libuv, V8 (microtasks, callbacks)'
  add(category)
  if (values.detail !== undefined && category.startsWith(values.detail)) {
    const key = s.frames.slice(0, 3).map((f) => f.replace(/^[0-9a-f]+ /, '').replace(/ \((\/tmp\/perf-\d+\.map|\/usr\/bin\/node)\)$/, '')).join(' < ')
    detail.set(key, (detail.get(key) ?? 0) + 1)
  }
}

// perf record -F: the period of a sample in the header would be exact; cpu-clock at -F 4000 is 250 µs.
const header = spawnSync('perf', ['report', '-i', positionals[0], '--header-only'], { encoding: 'utf8' }).stdout
const freq = Number(/sample_freq\s*=\s*(\d+)/.exec(header)?.[1] ?? 4000)
const usPerSample = 1e6 / freq
const per = values.per === undefined ? undefined : Number(values.per)
const total = samples.length
process.stdout.write(`${total} samples (${((total * usPerSample) / 1000).toFixed(0)} ms of CPU${per ? `, ${((total * usPerSample) / per).toFixed(0)} µs per ${per > 1 ? 'one of ' + per : 'one'}` : ''})\n\n`)
process.stdout.write(`| where the CPU time goes | share |${per ? ' µs each |' : ''}\n|---|---:|${per ? '---:|' : ''}\n`)
for (const [k, n] of [...byCategory].sort((a, b) => b[1] - a[1])) {
  process.stdout.write(`| ${k} | ${((n / total) * 100).toFixed(1)} % |${per ? ` ${((n * usPerSample) / per).toFixed(1)} |` : ''}\n`)
}
if (values.detail !== undefined) {
  process.stdout.write(`\nIn "${values.detail}…", the innermost three frames of the commonest samples:\n`)
  for (const [k, n] of [...detail].sort((a, b) => b[1] - a[1]).slice(0, 30)) process.stdout.write(`${String(n).padStart(5)} ${k}\n`)
}
