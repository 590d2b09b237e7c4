#!/usr/bin/env node
// Summarises a V8 .heapsnapshot (from `node bench/run.js --heap-snapshot`):
// the heap's total self size, and the node types and constructors that hold
// the most of it, with counts, so a per-machine cost shows up as a row whose
// count is about the number of machines.
//
//   node bench/heap-summary.js bench/results/heap/Heap.*.heapsnapshot [--top=30] [--per=10000]
//   node bench/heap-summary.js --base=AT-START.heapsnapshot WITH-MACHINES.heapsnapshot --per=10000
//
// --per divides each row's bytes by that count (e.g. the number of machines).
// --base subtracts another snapshot's rows (the daemon before any machine),
// so only what the machines added is left, largest growth first.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({ allowPositionals: true, options: {
  top: { type: 'string', default: '30' },
  per: { type: 'string' },
  base: { type: 'string' },
} })
if (positionals.length !== 1) {
  process.stderr.write('usage: node bench/heap-summary.js [--base=FILE.heapsnapshot] FILE.heapsnapshot [--top=N] [--per=N]\n')
  process.exit(2)
}

/** Rows keyed by type (objects and closures by constructor/function name): count and self bytes. */
function summarise(file) {
  const snapshot = JSON.parse(readFileSync(file, 'utf8'))
  const meta = snapshot.snapshot.meta
  const fields = meta.node_fields
  const stride = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const types = meta.node_types[typeAt]
  const { nodes, strings } = snapshot
  const byKey = new Map()
  let total = 0
  for (let i = 0; i < nodes.length; i += stride) {
    const type = types[nodes[i + typeAt]]
    const size = nodes[i + sizeAt]
    total += size
    const key = type === 'object' || type === 'closure' || type === 'native' ? `${type} ${strings[nodes[i + nameAt]]}` : type
    const row = byKey.get(key) ?? { count: 0, bytes: 0 }
    row.count++
    row.bytes += size
    byKey.set(key, row)
  }
  return { byKey, total, nodes: nodes.length / stride }
}

const now = summarise(positionals[0])
const base = values.base === undefined ? undefined : summarise(values.base)
if (base !== undefined) {
  for (const [key, r] of base.byKey) {
    const row = now.byKey.get(key) ?? { count: 0, bytes: 0 }
    now.byKey.set(key, { count: row.count - r.count, bytes: row.bytes - r.bytes })
  }
  now.total -= base.total
  now.nodes -= base.nodes
}

const per = values.per === undefined ? undefined : Number(values.per)
const kib = (b) => (b / 1024).toFixed(0).padStart(9)
process.stdout.write(`total self size${base ? ' growth' : ''}: ${(now.total / 1048576).toFixed(1)} MiB in ${now.nodes} nodes${per ? ` (${(now.total / per).toFixed(0)} B per ${per})` : ''}\n`)
process.stdout.write(`${'KiB'.padStart(9)} ${'count'.padStart(9)}${per ? ' B/per'.padStart(9) : ''}  what\n`)
const rows = [...now.byKey.entries()].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(values.top))
for (const [key, r] of rows) {
  process.stdout.write(`${kib(r.bytes)} ${String(r.count).padStart(9)}${per ? String(Math.round(r.bytes / per)).padStart(9) : ''}  ${key.slice(0, 100)}\n`)
}
