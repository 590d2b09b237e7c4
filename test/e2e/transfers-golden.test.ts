// Transfers against systemd-importd 252's own answers: the scenario of
// helpers/transfer-scenario.ts (real machinectl and busctl, the test's
// HTTP server on 127.0.0.1, a pool bind-mounted over /var/lib/machines in
// the sandbox) run against machined-ts, step by step equal to what
// fixtures/importd-252/capture.ts recorded from the real daemon.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { removePool } from '../helpers/image-pool.ts'
import { Sandbox } from '../helpers/sandbox.ts'
import { makeTransferFiles, startFileServer, type FileServer, type TransferFiles } from '../helpers/transfer-files.ts'
import { IMPORT_PATH, runTransferScenario, TransferScenario, type Step } from '../helpers/transfer-scenario.ts'

const GOLDEN = new URL('../fixtures/importd-252/', import.meta.url)
const golden = (file: string): string => readFileSync(new URL(file, GOLDEN), 'utf8')

void describe('transfers: byte for byte as systemd-importd 252', () => {
  let sb: Sandbox
  let pool: string
  let files: TransferFiles
  let server: FileServer

  before(async () => {
    pool = mkdtempSync('/var/tmp/machined-ts-pool-')
    files = makeTransferFiles()
    server = await startFileServer()
    sb = await Sandbox.start({ images: { pool, writable: ['/etc'] } })
  })

  after(async () => {
    await sb.stop()
    await server.close()
    files.dispose()
    removePool(pool)
  })

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
