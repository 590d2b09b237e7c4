/**
 * What `mctl --version` prints. A module of its own, bundled on its own
 * (scripts/build-bins.js): bin/mctl.js answers a lone `--version` from that
 * small bundle without loading the rest of mctl.
 * @module
 */

import { readFileSync } from 'node:fs'

export function versionText(program: string): string {
  let version = 'unknown'
  try {
    version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
  } catch {
    // Not where the package keeps it: say so rather than fail.
  }
  return `${program} (machined-ts) ${version}\nCompatible with machinectl 252 (systemd 252).\n`
}
