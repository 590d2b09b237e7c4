// Transfers against systemd-importd 252's own answers: the scenario of
// helpers/transfer-scenario.ts (real machinectl and busctl, the test's
// HTTP server on 127.0.0.1, a pool bind-mounted over /var/lib/machines in
// the sandbox) run against machined-ts, step by step equal to what
// fixtures/importd-252/capture.ts recorded from the real daemon.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import type { Sandbox } from '../helpers/sandbox.ts'
import type { FileServer, TransferFiles } from '../helpers/transfer-files.ts'
import { IMPORT_PATH, runTransferScenario, TransferScenario, type Step } from '../helpers/transfer-scenario.ts'
import { transferWorld, type TransferWorld } from '../helpers/transfer-world.ts'

const GOLDEN = new URL('../fixtures/importd-252/', import.meta.url)
const golden = (file: string): string => readFileSync(new URL(file, GOLDEN), 'utf8')

void describe('transfers: byte for byte as systemd-importd 252', () => {
  let sb: Sandbox
  let files: TransferFiles
  let server: FileServer

  let world: TransferWorld

  before(async () => {
    world = await transferWorld({ writable: ['/etc'] })
    ;({ sb, files, server } = world)
  })

  after(async () => { await world.stop() })

  test('introspection of the Manager', async () => {
    assert.equal(await new TransferScenario(sb, files, server).introspect(IMPORT_PATH), golden('introspect-manager.xml'))
  })

  test('every step of the scenario: errors, held and cancelled transfers, list-transfers, imports, exports, pulls, the pool', async () => {
    const s = new TransferScenario(sb, files, server)
    await runTransferScenario(s, sb)
    const expected = JSON.parse(golden('scenario.json')) as Step[]
    assert.deepEqual(s.steps.map((x) => x.name), expected.map((x) => x.name))
    const differing = s.steps.flatMap((step, i) => (step.output === expected[i]!.output ? [] : [
      `## ${step.name}\n--- systemd-importd 252\n${expected[i]!.output}\n--- machined-ts\n${step.output}`,
    ]))
    if (process.env.GOLDEN_DIFF !== undefined) writeFileSync(process.env.GOLDEN_DIFF, differing.join('\n'))
    assert.equal(differing.join('\n'), '', `${differing.length} of ${s.steps.length} steps differ`)
  })
})
