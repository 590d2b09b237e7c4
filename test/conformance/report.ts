/**
 * Prints the Container Interface results of machined-spawn and of
 * systemd-nspawn side by side, as docs/container-interface.md shows them:
 * `node --import tsx test/conformance/report.ts` (root; boots each once).
 */

import { Sandbox } from '../helpers/sandbox.ts'
import { debianTree, OverlayTree } from '../helpers/debian-tree.ts'
import { NspawnRun } from '../helpers/nspawn.ts'
import { machineLeader, SpawnRun, waitBooted } from '../helpers/spawn.ts'
import type { ProbeResult } from './container-interface.ts'
import { runConformance } from './runner.ts'

async function withSpawn(sb: Sandbox, tree: string): Promise<ProbeResult[]> {
  const name = sb.name('report')
  const run = SpawnRun.start(sb, ['-D', tree, '-M', name, '-b', '-q'])
  const leader = await machineLeader(sb, name)
  await waitBooted(sb, leader)
  const results = await runConformance(sb, { leader, name, registered: true })
  await sb.exec(['machinectl', 'poweroff', name])
  await run.exited
  return results
}

async function withNspawn(sb: Sandbox, tree: string): Promise<ProbeResult[]> {
  const name = sb.name('report-nspawn')
  const run = NspawnRun.start(sb, tree, name)
  try {
    const leader = await run.leader()
    await waitBooted(sb, leader)
    return await runConformance(sb, { leader, name, registered: false })
  } finally {
    await run.stop()
  }
}

const cached = await debianTree()
const sb = await Sandbox.start()
try {
  const a = await OverlayTree.create(sb, cached)
  const b = await OverlayTree.create(sb, cached)
  try {
    const ours = await withSpawn(sb, a.path)
    const theirs = await withNspawn(sb, b.path)
    const key = (r: ProbeResult): string => `${r.item}/${r.where}`
    const other = new Map(theirs.map((r) => [key(r), r]))
    const cell = (r: ProbeResult | undefined): string => (r === undefined ? '' : r.outcome === 'pass' ? 'pass' : `${r.outcome}: ${r.detail.replace(/\|/g, '/')}`)
    process.stdout.write('| # | level | check | machined-spawn | systemd-nspawn 252 |\n|---:|---|---|---|---|\n')
    for (const r of ours) {
      process.stdout.write(`| ${r.item}${r.where === 'host' ? ' (host)' : ''} | ${r.level} | ${r.title} | ${cell(r)} | ${cell(other.get(key(r)))} |\n`)
    }
  } finally {
    a.remove()
    b.remove()
  }
} finally {
  await sb.stop()
}
