/**
 * A Debian bookworm tree that boots systemd in a container, for the
 * machined-spawn tests and bench/spawn-boot.js: `debootstrap
 * --variant=minbase --include=systemd,systemd-sysv,dbus bookworm` (about a
 * minute), cached under /var/tmp/machined-ts/ and rebuilt when absent.
 * Prepared for first-boot tests: an empty /etc/machine-id (so the guest
 * takes $container_uuid), dbus's copy of the ID replaced by a link to it,
 * no /etc/hostname (so the guest keeps the hostname it is given). Other
 * variants (more packages, other preparation) are built by the same
 * `cachedTree()` under names of their own, so this one stays as it is.
 *
 * Tests never boot the cached tree itself: each gets a fresh overlay of it
 * (an upper directory of its own), mounted inside the test's sandbox.
 */

import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, renameSync, rmdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Sandbox } from './sandbox.ts'

export const CACHE_DIR = process.env.MACHINED_TS_CACHE ?? '/var/tmp/machined-ts'
/** Bump when the recipe below changes: the tree is rebuilt under a new name. */
const RECIPE = 1
export const TREE_DIR = join(CACHE_DIR, `spawn-debian-bookworm-${RECIPE}`)
const MARKER = '.machined-ts-tree'
const MIRROR = process.env.DEBIAN_MIRROR ?? 'http://deb.debian.org/debian'

function run(argv: string[], what: string): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 })
  if (r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join('\n')}`)
}

/** Another process builds right now? Wait for it (a lock directory holding the builder's pid). */
async function lock(tree: string): Promise<() => void> {
  const dir = `${tree}.lock`
  for (;;) {
    try {
      mkdirSync(dir)
      writeFileSync(join(dir, 'pid'), String(process.pid))
      return () => rmSync(dir, { recursive: true, force: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      let owner = 0
      try { owner = Number(readFileSync(join(dir, 'pid'), 'utf8')) } catch { /* being written */ }
      if (owner > 0 && !existsSync(`/proc/${owner}`)) rmSync(dir, { recursive: true, force: true })
      await new Promise((r) => setTimeout(r, 500))
    }
  }
}

/** A cached Debian tree: which packages debootstrap adds, and what is done to it afterwards. */
export interface TreeRecipe {
  /** The cache directory (under CACHE_DIR); bump its number when the recipe changes. */
  readonly dir: string
  /** debootstrap --include=… (besides minbase). */
  readonly include: readonly string[]
  /** Run on the fresh tree before it is moved into place. */
  readonly prepare?: (tree: string) => void
}

/** The machined-spawn tests' tree: a bootable systemd, prepared for first boots. */
const SPAWN_RECIPE: TreeRecipe = { dir: TREE_DIR, include: ['systemd', 'systemd-sysv', 'dbus'], prepare: prepareFirstBoot }

/**
 * First boot as the Container Interface means it: an empty /etc/machine-id
 * (so the guest takes $container_uuid, A1.9), dbus's copy of the ID a link
 * to it, no /etc/hostname (so the guest keeps the hostname it is given).
 */
export function prepareFirstBoot(tree: string): void {
  writeFileSync(join(tree, 'etc/machine-id'), '')
  const dbusId = join(tree, 'var/lib/dbus/machine-id')
  if (existsSync(dbusId)) unlinkSync(dbusId)
  mkdirSync(join(tree, 'var/lib/dbus'), { recursive: true })
  symlinkSync('/etc/machine-id', dbusId)
  rmSync(join(tree, 'etc/hostname'), { force: true })
}

/** The cached tree's path, built first when it is not there (about a minute). */
export async function debianTree(): Promise<string> {
  return cachedTree(SPAWN_RECIPE)
}

/** A recipe's cached tree, built first when it is not there (debootstrap: a minute or more). */
export async function cachedTree(recipe: TreeRecipe): Promise<string> {
  const dir = recipe.dir
  if (existsSync(join(dir, MARKER))) return dir
  mkdirSync(CACHE_DIR, { recursive: true })
  const unlock = await lock(dir)
  try {
    if (existsSync(join(dir, MARKER))) return dir
    const build = mkdtempSync(`${dir}.build-`)
    try {
      const tree = join(build, 'tree')
      const include = recipe.include.join(',')
      run(['debootstrap', '--variant=minbase', `--include=${include}`, 'bookworm', tree, MIRROR], 'debootstrap')
      recipe.prepare?.(tree)
      writeFileSync(join(tree, MARKER), `debootstrap --variant=minbase --include=${include} bookworm (${dir})\n`)
      rmSync(dir, { recursive: true, force: true })
      renameSync(tree, dir)
    } finally {
      rmSync(build, { recursive: true, force: true })
    }
    return dir
  } finally {
    unlock()
  }
}

/** A writable copy-on-write view of the cached tree, mounted only inside the sandbox. */
export class OverlayTree {
  readonly path: string
  readonly #sb: Sandbox
  readonly #base: string

  private constructor(sb: Sandbox, base: string) {
    this.#sb = sb
    this.#base = base
    this.path = join(base, 'merged')
  }

  static async create(sb: Sandbox, lower?: string): Promise<OverlayTree> {
    const tree = lower ?? (await debianTree())
    mkdirSync(join(CACHE_DIR, 'overlays'), { recursive: true })
    const base = mkdtempSync(join(CACHE_DIR, 'overlays', 'o-'))
    for (const d of ['upper', 'work', 'merged']) mkdirSync(join(base, d))
    const r = sb.execSync(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${tree},upperdir=${base}/upper,workdir=${base}/work`, join(base, 'merged')])
    if (r.code !== 0) {
      rmSync(base, { recursive: true, force: true })
      throw new Error(`mounting the overlay failed: ${r.stderr}`)
    }
    return new OverlayTree(sb, base)
  }

  /** Unmounts (inside the sandbox) and removes the upper layer. */
  remove(): void {
    this.#sb.execSync(['umount', '-l', this.path])
    rmSync(this.#base, { recursive: true, force: true })
    try { rmdirSync(join(CACHE_DIR, 'overlays')) } catch { /* others in use */ }
  }
}
