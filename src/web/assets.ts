/**
 * The page's files, built by `npm ci` (scripts/build-ui.js: esbuild
 * bundles src/web/ui with xterm.js and uPlot into dist/web/ui/) and served
 * from the package itself: no CDN. Read once at start.
 * @module
 */

import { readdirSync, readFileSync } from 'node:fs'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
}

export interface Asset {
  readonly body: Uint8Array
  readonly type: string
}

/** The login page's own style: the only asset served before a login. */
export const PUBLIC_ASSETS: ReadonlySet<string> = new Set(['login.css'])

export const ASSET_DIR = fileURLToPath(new URL('./ui/', import.meta.url))

export function loadAssets(dir = ASSET_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (err) {
    throw new Error(`The page's files are missing from ${dir} (${(err as Error).message}); run \`npm ci\` or \`node scripts/build-ui.js\``, { cause: err })
  }
  for (const name of names) {
    const type = TYPES[extname(name)]
    if (type !== undefined) assets.set(name, { body: readFileSync(join(dir, name)), type })
  }
  return assets
}
