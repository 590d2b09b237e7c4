// The layer table (scripts/eslint-layers.js) as lint enforces it: for every
// layer of src/, a probe import into a layer its row does not list is
// rejected and one into a layer it lists is accepted; protocol/ and core/
// take no Node built-in and no npm package; a folder of src/ without a row
// fails; bin/ reaches only dist/, test/ reaches anything. The probes are
// linted with the rule alone (no type information: it needs none) under
// the paths of real files; eslint.config.js is checked to switch it on for
// every layer. README.md's layer list must say what the table says.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ESLint } from 'eslint'
import tseslint from 'typescript-eslint'
import { LAYERS, layersConfig } from '../../scripts/eslint-layers.js'

const ROOT = join(import.meta.dirname, '..', '..')
const NAMES = Object.keys(LAYERS)

const eslint = new ESLint({
  cwd: ROOT,
  overrideConfigFile: true,
  overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, layersConfig],
})

/** The layering messages for `code` as if it were the file `path`. */
async function problems(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) })
  assert.ok(result)
  assert.deepEqual(result.messages.filter((m) => m.ruleId !== 'machined/layers'), [], 'only the layering rule runs')
  return result.messages.map((m) => m.message)
}

/** An import of a file in layer `to`, from a file `up` levels below src/. */
function probe(to: string, up = '../'): string {
  return `import { x } from '${up}${to}/probe.ts'\nexport const y = x\n`
}

void describe('the layer table, as lint enforces it', () => {
  for (const from of NAMES) {
    const allowed = LAYERS[from]!.may
    const refused = NAMES.filter((to) => to !== from && !allowed.includes(to))
    test(`${from}/ may import ${allowed.join(', ') || 'nothing of ours'}, and nothing else`, async () => {
      for (const to of refused) {
        const found = await problems(`src/${from}/probe.ts`, probe(to))
        assert.equal(found.length, 1, `${from} → ${to} must be rejected`)
        assert.match(found[0]!, new RegExp(`^src/${from}/ imports only .*: '../${to}/probe.ts' is in src/${to}/\\.$`))
      }
      for (const to of [from, ...allowed]) {
        assert.deepEqual(await problems(`src/${from}/sub/probe.ts`, probe(`${to}/sub`, '../../')), [], `${from} → ${to} is allowed`)
      }
    })
  }

  test('every kind of import is checked: type-only, re-exports, dynamic, `typeof import`, require', async () => {
    const forms = [
      `import type { X } from '../daemon/main.ts'\nexport type Y = X\n`,
      `export { x } from '../daemon/main.ts'\n`,
      `export * from '../daemon/main.ts'\n`,
      `export const m = await import('../daemon/main.ts')\n`,
      `export type M = typeof import('../daemon/main.ts')\n`,
      `declare const require: (id: string) => unknown\nexport const m = require('../daemon/main.ts')\n`,
    ]
    for (const code of forms) assert.equal((await problems('src/core/probe.ts', code)).length, 1, code)
  })

  test('protocol/ and core/ take no Node built-in and no npm package; other layers may', async () => {
    for (const from of ['protocol', 'core']) {
      assert.match((await problems(`src/${from}/probe.ts`, `import { readdirSync, readFileSync } from 'node:fs'\nexport const r = readFileSync\n`))[0] ?? '', /imports no Node built-ins \('node:fs'\)/)
      assert.match((await problems(`src/${from}/probe.ts`, `import fs from 'fs'\nexport const r = fs\n`))[0] ?? '', /imports no Node built-ins \('fs'\)/)
      assert.match((await problems(`src/${from}/probe.ts`, `import e from 'eslint'\nexport const r = e\n`))[0] ?? '', /imports no npm packages \('eslint'\)/)
    }
    assert.deepEqual(await problems('src/linux/probe.ts', `import { readdirSync, readFileSync } from 'node:fs'\nimport e from 'eslint'\nexport const r = [readFileSync, e]\n`), [])
  })

  test('a folder of src/ without a row, or a file directly in src/, fails', async () => {
    assert.match((await problems('src/newlayer/probe.ts', 'export const x = 1\n'))[0] ?? '', /src\/newlayer\/ is not in the layer table/)
    assert.match((await problems('src/probe.ts', 'export const x = 1\n'))[0] ?? '', /in no layer/)
  })

  test('outside src/: bin/ reaches only dist/, scripts/ nothing of ours, test/ and bench/ anything', async () => {
    assert.deepEqual(await problems('bin/probe.js', `import { main } from '../dist/cli/main.js'\nawait main([])\n`), [])
    assert.equal((await problems('bin/probe.js', `import { main } from '../src/cli/main.ts'\nawait main([])\n`)).length, 1)
    assert.equal((await problems('scripts/probe.js', `import { x } from '../src/core/manager.ts'\nexport const y = x\n`)).length, 1)
    assert.deepEqual(await problems('test/unit/probe.ts', `import { x } from '../../src/daemon/main.ts'\nexport const y = x\n`), [])
    assert.deepEqual(await problems('bench/probe.ts', `import { x } from '../src/wire/dbus/writer.ts'\nexport const y = x\n`), [])
  })

  test('eslint.config.js switches the rule on for every layer and for bin/, scripts/, bench/', async () => {
    const real = new ESLint({ cwd: ROOT })
    for (const path of [...NAMES.map((n) => `src/${n}/probe.ts`), 'bin/mctl.js', 'scripts/test.js', 'bench/run.js', 'test/unit/probe.ts']) {
      const config = await real.calculateConfigForFile(join(ROOT, path)) as { rules?: Record<string, unknown> }
      assert.deepEqual(config.rules?.['machined/layers'], [2], path)
    }
  })

  test('every folder of src/ has a row, and README.md lists exactly the table', () => {
    for (const dir of readdirSync(join(ROOT, 'src'), { withFileTypes: true })) assert.ok(!dir.isDirectory() || NAMES.includes(dir.name), dir.name)
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    // `- **core/** (may import protocol/): …` — one line per layer.
    const rows = new Map([...readme.matchAll(/^- \*\*(\w+)\/\*\* \(may import ([^)]*)\):/gm)].map((m) => [m[1]!, m[2]!]))
    assert.deepEqual([...rows.keys()].sort(), [...NAMES].sort())
    for (const name of NAMES) {
      const listed = rows.get(name)!
      assert.deepEqual(listed === 'nothing of ours' ? [] : listed.split(', ').map((l) => l.replace(/\/$/, '')), LAYERS[name]!.may, name)
    }
  })

  test('README.md draws every layer, each above every layer it may import', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const drawing = /^## Layout\n[^]*?^```text\n([^]*?)^```$/m.exec(readme)?.[1]
    assert.ok(drawing !== undefined)
    const row = new Map<string, number>()
    drawing.split('\n').forEach((line, i) => {
      for (const word of line.match(/[a-z]+/g) ?? []) if (NAMES.includes(word)) row.set(word, i)
    })
    assert.deepEqual([...row.keys()].sort(), [...NAMES].sort())
    for (const name of NAMES) {
      for (const to of LAYERS[name]!.may) assert.ok(row.get(to)! > row.get(name)!, `${name} is drawn above ${to}`)
    }
  })
})
