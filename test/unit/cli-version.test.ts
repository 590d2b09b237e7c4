// `mctl --version`: bin/mctl.js answers a lone --version from a small bundle
// of its own; every other way of asking goes through all of mctl. Both must
// print the same, machinectl's shape with our name and package version.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }
const EXPECTED = `mctl (machined-ts) ${version}\nCompatible with machinectl 252 (systemd 252).\n`

function mctl(...args: string[]): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, 'bin/mctl.js'), ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('mctl --version', () => {
  test('a lone --version (the small bundle) prints the package version', () => {
    assert.deepEqual(mctl('--version'), { status: 0, stdout: EXPECTED, stderr: '' })
  })

  test('--version among other arguments (all of mctl) prints the same', () => {
    assert.deepEqual(mctl('--no-pager', '--version'), { status: 0, stdout: EXPECTED, stderr: '' })
    assert.deepEqual(mctl('list', '--version'), { status: 0, stdout: EXPECTED, stderr: '' })
  })

  test('a reader that went away (EPIPE) gets nothing, and mctl ends cleanly', () => {
    // The reader closes its end at once; mctl writes 0.3 s later.
    const script = 'exec 3>&1; (sleep 0.3; "$0" "$1" --version 2>&3; echo "exit $?" >&3) | (exec 0<&-; sleep 1)'
    const r = spawnSync('sh', ['-c', script, process.execPath, join(REPO, 'bin/mctl.js')], { encoding: 'utf8' })
    assert.equal(r.stdout, 'exit 0\n')
  })
})
