/**
 * Some tests run our own programs as another user (nobody, through
 * setpriv): mctl, and the Python Varlink client. The checkout may sit where
 * only root can read it (a clone under /root, the first place a root user
 * clones to), so those programs run from a copy every user can read: the
 * files they need, staged once per test process in a temporary directory
 * and removed when it exits. Paths keep their place relative to the
 * checkout's root, so dist/ still finds native/build/Release/.
 * @module
 */

import { chmodSync, cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO } from './sandbox.ts'

/**
 * What mctl and machined need to run, as `npm ci` installs the package: their launchers,
 * the built code, the native module, package.json ("type": "module"), and
 * the package's runtime dependencies (runtimeDependencies()).
 */
const PROGRAM_FILES = ['package.json', 'bin/mctl.js', 'bin/machined.js', 'bin/load-bundle.js', 'bin/package.json', 'dist', 'native/build/Release/machined_native.node']
const VARLINK_CLIENT = 'test/helpers/varlink-client.py'

/** node_modules/NAME of every package the package.json's `dependencies` need, theirs included. */
function runtimeDependencies(): string[] {
  const seen = new Set<string>()
  const visit = (name: string): void => {
    const dir = join(REPO, 'node_modules', name)
    if (seen.has(name) || !existsSync(dir)) return
    seen.add(name)
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: object; optionalDependencies?: object }
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) visit(dep)
  }
  const root = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies?: object }
  for (const dep of Object.keys(root.dependencies ?? {})) visit(dep)
  return [...seen].map((name) => `node_modules/${name}`)
}

let staged: string | undefined

/** Read (and, where the owner may, execute) for everyone, whatever the umask was; symlinks are left alone. */
function openToAll(path: string): void {
  const stat = lstatSync(path)
  if (stat.isSymbolicLink()) return
  chmodSync(path, stat.isDirectory() || (stat.mode & 0o100) !== 0 ? 0o755 : 0o644)
  if (stat.isDirectory()) for (const name of readdirSync(path)) openToAll(join(path, name))
}

function stage(): string {
  if (staged === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'machined-ts-staged-'))
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    for (const path of [...PROGRAM_FILES, ...runtimeDependencies(), VARLINK_CLIENT]) cpSync(join(REPO, path), join(dir, path), { recursive: true, verbatimSymlinks: true })
    openToAll(dir)
    staged = dir
  }
  return staged
}

/** The command that runs mctl from the staged copy, for a user who may not read the checkout. */
export function mctlForAnyUser(): string[] {
  return [process.execPath, join(stage(), 'bin/mctl.js')]
}

/** The command that runs machined from the staged copy, for a user who may not read the checkout. */
export function machinedForAnyUser(): string[] {
  return [process.execPath, join(stage(), 'bin/machined.js')]
}

/** The staged test/helpers/varlink-client.py. */
export function varlinkClientForAnyUser(): string {
  return join(stage(), VARLINK_CLIENT)
}
