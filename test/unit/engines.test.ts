// package.json's engines states the truth: the Node running the tests (the
// one CI runs, where .npmrc's engine-strict makes `npm ci` fail on any
// mismatch) is one it claims, and no locked package refuses a Node it
// claims (the tree's own lowest is eslint-visitor-keys' ^20.19.0).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

interface Semver {
  satisfies(version: string, range: string): boolean
  subset(sub: string, sup: string): boolean
  minVersion(range: string): { version: string } | null
  validRange(range: string): string | null
}
const semver = createRequire(import.meta.url)('semver') as Semver

const root = new URL('../../', import.meta.url)
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string } }
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as {
  packages: Record<string, { engines?: { node?: string } | string[] }>
}

/** Every locked package's Node range, by its path in node_modules. */
function lockedRanges(): [string, string][] {
  const out: [string, string][] = []
  for (const [path, entry] of Object.entries(lock.packages)) {
    // An array is the old npm 1 form, which npm ignores.
    const node = Array.isArray(entry.engines) ? undefined : entry.engines?.node
    if (path !== '' && node !== undefined) out.push([path, node])
  }
  return out
}

void describe('engines', () => {
  const ours = pkg.engines.node

  it('is a valid range, the same in package-lock.json, and holds the Node running the tests', () => {
    assert.notEqual(semver.validRange(ours), null)
    assert.deepEqual((lock.packages[''] as { engines?: unknown }).engines, pkg.engines)
    assert.ok(semver.satisfies(process.version, ours), `${process.version} is not in ${ours}`)
  })

  it('claims no Node version that a locked package refuses', () => {
    const ranges = lockedRanges()
    assert.ok(ranges.length > 0)
    const refused = ranges.filter(([, range]) => !semver.subset(ours, range)).map(([path, range]) => `${path}: ${range}`)
    assert.deepEqual(refused, [])
  })

})
