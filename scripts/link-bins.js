#!/usr/bin/env node
// Links this package's own bins into node_modules/.bin, so that after
// `npm ci` in a clone, `npx machined` (and the other bins) run this
// checkout, as the README says. npm links the bins of dependencies only.
import { mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const binDir = join(root, 'node_modules', '.bin')
mkdirSync(binDir, { recursive: true })
for (const [name, target] of Object.entries(pkg.bin ?? {})) {
  const link = join(binDir, name)
  rmSync(link, { force: true })
  symlinkSync(relative(binDir, join(root, target)), link)
}
