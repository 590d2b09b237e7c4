/**
 * A Debian bookworm tree that boots systemd in a container, for the
 * machined-spawn tests and bench/spawn-boot.js: `debootstrap
 * --variant=minbase --include=systemd,systemd-sysv,dbus bookworm` (about a
 * minute), cached under /var/tmp/machined-ts/ and rebuilt when absent.
 * Prepared for first-boot tests: an empty /etc/machine-id (so the guest
 * takes $container_uuid), dbus's copy of the ID replaced by a link to it,
 * no /etc/hostname (so the guest keeps the hostname it is given).
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
async function lock(): Promise<() => void> {
  const dir = `${TREE_DIR}.lock`
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

/** The cached tree's path, built first when it is not there (about a minute). */
export async function debianTree(): Promise<string> {
  if (existsSync(join(TREE_DIR, MARKER))) return TREE_DIR
  mkdirSync(CACHE_DIR, { recursive: true })
  const unlock = await lock()
  try {
    if (existsSync(join(TREE_DIR, MARKER))) return TREE_DIR
    const build = mkdtempSync(`${TREE_DIR}.build-`)
    try {
      const tree = join(build, 'tree')
      run(['debootstrap', '--variant=minbase', '--include=systemd,systemd-sysv,dbus', 'bookworm', tree, MIRROR], 'debootstrap')
      // First boot as the Container Interface means it: the guest takes $container_uuid (A1.9).
      writeFileSync(join(tree, 'etc/machine-id'), '')
      const dbusId = join(tree, 'var/lib/dbus/machine-id')
      if (existsSync(dbusId)) unlinkSync(dbusId)
      mkdirSync(join(tree, 'var/lib/dbus'), { recursive: true })
      symlinkSync('/etc/machine-id', dbusId)
      rmSync(join(tree, 'etc/hostname'), { force: true })
      writeFileSync(join(tree, MARKER), `debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm (recipe ${RECIPE})\n`)
      rmSync(TREE_DIR, { recursive: true, force: true })
      renameSync(tree, TREE_DIR)
    } finally {
      rmSync(build, { recursive: true, force: true })
    }
    return TREE_DIR
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
