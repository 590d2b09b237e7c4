// The anchor: the same Container Interface suite against real
// systemd-nspawn 252 booting the same tree (`-b --register=no --keep-unit`,
// as it runs on a host without systemd). Its results are recorded in
// docs/container-interface.md next to machined-spawn's; here we check that
// the suite gets an answer from every probe and that nspawn passes what it
// is known to pass on this kind of host.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Sandbox } from '../helpers/sandbox.ts'
import { debianTree, OverlayTree } from '../helpers/debian-tree.ts'
import { NspawnRun } from '../helpers/nspawn.ts'
import { waitBooted } from '../helpers/spawn.ts'
import { resultTable, runConformance } from '../conformance/runner.ts'

/** Items nspawn 252 passes whatever the host's cgroup layout. */
const NSPAWN_PASSES = [1, 2, 3, 4, 5, 6, 10, 12, 13, 15, 16, 17, 20, 21, 22, 23, 24, 32, 35, 36, 38, 39, 40, 46, 47, 49, 51, 59]

void describe('the conformance suite against systemd-nspawn', { timeout: 600_000 }, () => {
  let sb: Sandbox
  let tree: OverlayTree
  let nspawn: NspawnRun | undefined

  before(async () => {
    const cached = await debianTree()
    sb = await Sandbox.start({ daemon: false })
    tree = await OverlayTree.create(sb, cached)
  })

  after(async () => {
    await nspawn?.stop()
    tree?.remove()
    await sb?.stop()
  })

  it('answers every probe; nspawn passes the items it is known to pass', async (t) => {
    const name = sb.name('nspawn')
    nspawn = NspawnRun.start(sb, tree.path, name)
    const leader = await nspawn.leader()
    assert.equal(await waitBooted(sb, leader), 'running', nspawn.output.slice(-2000))
    const results = await runConformance(sb, { leader, name, registered: false })
    t.diagnostic(`\n${resultTable(results)}`)
    assert.deepEqual(results.filter((r) => r.detail === 'the probe gave no answer').map((r) => r.item), [])
    const failing = NSPAWN_PASSES.filter((i) => results.some((r) => r.item === i && r.outcome !== 'pass'))
    assert.deepEqual(failing, [], results.filter((r) => failing.includes(r.item)).map((r) => `${r.item}: ${r.detail}`).join('\n'))
    assert.equal(await nspawn.stop(), 0)
    nspawn = undefined
  })
})
