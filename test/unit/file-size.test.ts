// Small files with one job: no source file under src/ or native/ (the C
// included) is over 400 lines. A file that grows past that is split along
// a seam of its own, not trimmed to fit. Lines are counted as `wc -l` does.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { extname, join, relative } from 'node:path'

const ROOT = join(import.meta.dirname, '..', '..')
const MAX_LINES = 400
const SOURCE = new Set(['.ts', '.js', '.c', '.h'])
/** node-gyp's output and installed packages are not ours. */
const NOT_OURS = new Set(['build', 'node_modules'])

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return NOT_OURS.has(e.name) ? [] : sourceFiles(path)
    return e.isFile() && SOURCE.has(extname(e.name)) ? [path] : []
  })
}

function lineCount(path: string): number {
  return readFileSync(path, 'utf8').split('\n').length - 1
}

void describe('source file size', () => {
  const files = ['src', 'native'].flatMap((d) => sourceFiles(join(ROOT, d)))

  void test('finds the TypeScript and the C', () => {
    const kinds = new Set(files.map((f) => extname(f)))
    for (const kind of ['.ts', '.c', '.h']) assert.ok(kinds.has(kind), `no ${kind} file found`)
    assert.ok(files.some((f) => relative(ROOT, f).startsWith('native/')))
  })

  void test(`no file under src/ or native/ is over ${MAX_LINES} lines`, () => {
    const over = files.map((f) => ({ file: relative(ROOT, f), lines: lineCount(f) })).filter((f) => f.lines > MAX_LINES)
    assert.deepEqual(over, [], over.map((f) => `${f.file}: ${f.lines} lines`).join('\n'))
  })
})
