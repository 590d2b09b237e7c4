/**
 * How the contract suite is run (in the manner of hono's runtime tests):
 * each `<port>.case.ts` exports the cases a port must pass, written from
 * what the core relies on, against a harness that hides how a world is
 * set up; each `<port>.test.ts` runs those cases against the fake and the
 * real port, so the two must agree.
 * @module
 */

import { describe, test } from 'node:test'
import { needsRoot } from '../helpers/privilege.ts'

export interface Harness {
  /** Ends whatever the harness started (processes, scopes, files). */
  dispose(): Promise<void>
}

export interface ContractCase<H extends Harness> {
  readonly name: string
  /** Against a real port, this case needs root (another user's process); the fakes never do. */
  readonly realNeedsRoot?: boolean
  run(h: H): Promise<void>
}

/** Which implementation a run is against: a fake, or a real port that needs root for the marked cases or for all. */
export type Implementation = 'fake' | 'real' | 'real, as root'

/** Runs every case against a fresh harness from `make`, as `<port>: <implementation>`. */
export function runContract<H extends Harness>(title: string, cases: readonly ContractCase<H>[], make: () => Promise<H>, implementation: Implementation): void {
  void describe(title, implementation === 'real, as root' ? needsRoot : {}, () => {
    for (const c of cases) {
      void test(c.name, implementation === 'real' && c.realNeedsRoot === true ? needsRoot : {}, async () => {
        const h = await make()
        try {
          await c.run(h)
        } finally {
          await h.dispose()
        }
      })
    }
  })
}

/**
 * Waits until `check` holds, looking every few milliseconds; fails after
 * `seconds` (a guard against hanging, not a timing goal).
 */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, seconds = 10): Promise<void> {
  const deadline = Date.now() + seconds * 1000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
