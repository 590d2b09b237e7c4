/**
 * How the layout matrix runs (in the manner of hono's runtime tests and
 * our contract suite): each `*.case.ts` exports cases written against a
 * World; each `layout-*.test.ts` makes one world of its layout and runs
 * every case in it, one after another, then prints a summary line: how
 * many cases ran and passed, and every branch a case took because part of
 * it cannot apply to this layout, with the reason the case checked.
 * @module
 */

import assert from 'node:assert/strict'
import { after, before, describe, it, type TestContext } from 'node:test'
import type { World } from './world.ts'

export interface CaseContext {
  readonly w: World
  readonly t: TestContext
  /**
   * Part of the case cannot apply to this layout: say what and why. Call
   * it only after checking the reason (the controller is really missing,
   * the manager really is not there) and what the daemon does instead.
   */
  notApplicable(what: string, why: string): void
}

export interface MatrixCase {
  readonly name: string
  run(c: CaseContext): Promise<void>
}

interface Branch {
  readonly case: string
  readonly what: string
  readonly why: string
}

/** Runs `cases` in one world made by `make`, under `layout …`, with the summary last. */
export function runLayout(layout: string, cases: readonly MatrixCase[], make: () => Promise<World>, options: { timeout?: number } = {}): void {
  void describe(`layout ${layout}`, { timeout: options.timeout ?? 900_000 }, () => {
    let w: World | undefined
    const branches: Branch[] = []
    const outcome = new Map<string, 'passed' | 'failed'>()
    before(async () => { w = await make() })
    after(async () => { await w?.dispose() })

    for (const c of cases) {
      void it(c.name, async (t) => {
        assert.ok(w !== undefined, 'the world did not start')
        outcome.set(c.name, 'failed')
        await c.run({
          w, t,
          notApplicable: (what, why) => {
            branches.push({ case: c.name, what, why })
            t.diagnostic(`not applicable on ${layout}: ${what}: ${why}`)
          },
        })
        outcome.set(c.name, 'passed')
      })
    }

    void it(`summary: every shared case ran on ${layout}`, (t) => {
      const passed = [...outcome.values()].filter((o) => o === 'passed').length
      t.diagnostic(`layout ${layout}${w === undefined ? '' : ` (${w.title})`}: ${cases.length} cases, ${outcome.size} ran, ${passed} passed, ` +
        `${branches.length} not-applicable branch${branches.length === 1 ? '' : 'es'}`)
      for (const b of branches) t.diagnostic(`  ${layout} / ${b.case}: ${b.what}: ${b.why}`)
      assert.equal(outcome.size, cases.length, 'a case did not run')
    })
  })
}
