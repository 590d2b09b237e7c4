// The image pool against systemd-machined 252's own answers: the scenario
// of helpers/image-scenario.ts (real machinectl and busctl over the pool
// of helpers/image-pool.ts, bind-mounted over /var/lib/machines in the
// sandbox) run against machined-ts, step by step equal to what
// fixtures/machined-252-images/capture.ts recorded from the real daemon,
// times normalised. Directory images are not measured here
// (--measure-image-usage=no), so their usage reads as systemd's: unknown.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { imageSandbox, type ImageWorld, type TestPool } from '../helpers/image-pool.ts'
import { runImageScenario, Scenario, type Step } from '../helpers/image-scenario.ts'
import type { Sandbox } from '../helpers/sandbox.ts'

const GOLDEN = new URL('../fixtures/machined-252-images/', import.meta.url)
const golden = (file: string): string => readFileSync(new URL(file, GOLDEN), 'utf8')

void describe('images: byte for byte as systemd-machined 252', () => {
  let pool: TestPool
  let sb: Sandbox

  let world: ImageWorld

  before(async () => {
    world = await imageSandbox(['--measure-image-usage=no'])
    ;({ pool, sb } = world)
  })

  after(async () => { await world.stop() })

  // The Manager's own introspection is compared with 252's in unit/introspect.test.ts.
  test('introspection of an image object and of the image node', async () => {
    const s = new Scenario(sb, pool.dir)
    assert.equal(await s.introspect('/org/freedesktop/machine1/image/alpha'), golden('introspect-image.xml'))
    assert.equal(await s.introspect('/org/freedesktop/machine1/image'), golden('introspect-image-node.xml'))
  })

  test('every step of the scenario: listings, status, properties, errors, clone, rename, read-only, remove, clean', async () => {
    const s = new Scenario(sb, pool.dir)
    await runImageScenario(s)
    const expected = JSON.parse(golden('scenario.json')) as Step[]
    assert.deepEqual(s.steps.map((x) => x.name), expected.map((x) => x.name))
    const differing = s.steps.flatMap((step, i) => (step.output === expected[i]!.output ? [] : [
      `## ${step.name}\n--- systemd-machined 252\n${expected[i]!.output}\n--- machined-ts\n${step.output}`,
    ]))
    if (process.env.GOLDEN_DIFF !== undefined) writeFileSync(process.env.GOLDEN_DIFF, differing.join('\n'))
    assert.equal(differing.join('\n'), '', `${differing.length} of ${s.steps.length} steps differ`)
  })
})
