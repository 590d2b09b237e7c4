#!/usr/bin/env node
// Builds machined-web's page (src/web/ui) into dist/web/ui/ with esbuild:
// app.js (our code with xterm.js and uPlot), app.css (theirs and ours) and
// login.css. Run by `npm ci` (the prepare script); the server reads these
// files from the package, so the page needs nothing from any CDN.
import { build } from 'esbuild'
import { mkdirSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = `${root}dist/web/ui`
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
await build({
  absWorkingDir: root,
  entryPoints: { app: 'src/web/ui/app.ts', style: 'src/web/ui/app.css', login: 'src/web/ui/login.css' },
  outdir: out,
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: false,
  legalComments: 'external',
  logLevel: 'warning',
})
