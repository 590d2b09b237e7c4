/**
 * A machine pool with images that boot, for the tests of containers and
 * services from the pool: the cached Debian tree overlaid at
 * /var/lib/machines/deb inside the sandbox (its upper layer in a
 * directory of the test's own, so the cache never changes), a busybox tree
 * as a directory image (bb) and, on an ext4 root partition of a GPT disk,
 * as a raw image (bbraw.raw). The sandbox's /etc and /var/log are
 * overlays, so enabled machines and launchers' logs never reach the host.
 */

import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { busyboxTree } from './busybox-tree.ts'
import { CACHE_DIR, debianTree } from './debian-tree.ts'
import { makeGptImage, removePool } from './image-pool.ts'
import { Sandbox } from './sandbox.ts'

export interface PoolWorld {
  readonly sb: Sandbox
  /** The pool on the host (bind-mounted over /var/lib/machines in the sandbox). */
  readonly pool: string
  /** The images' names, which are their machines' names too: unique per run, as machine names must be (cgroups are not namespaced). */
  readonly deb: string
  readonly bb: string
  readonly bbraw: string
  stop(): Promise<void>
}

/** Makes `name` in the pool a copy-on-write view of the Debian tree, mounted in the sandbox only. */
export function overlayDebian(sb: Sandbox, pool: string, tree: string, name: string): () => void {
  const layer = mkdtempSync(join(CACHE_DIR, 'pool-overlay-'))
  for (const d of ['upper', 'work']) mkdirSync(join(layer, d))
  mkdirSync(join(pool, name))
  const r = sb.execSync(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${tree},upperdir=${layer}/upper,workdir=${layer}/work`, `/var/lib/machines/${name}`])
  if (r.code !== 0) throw new Error(`mounting the Debian overlay failed: ${r.stderr}`)
  return () => {
    sb.execSync(['umount', '-l', `/var/lib/machines/${name}`])
    rmSync(layer, { recursive: true, force: true })
  }
}

export async function poolWorld(daemonArgs: string[] = []): Promise<PoolWorld> {
  const tree = await debianTree()
  const pool = mkdtempSync('/var/tmp/machined-ts-pool-')
  const sb = await Sandbox.start({ daemonArgs, images: { pool, writable: ['/etc', '/var/log'] } })
  const [deb, bb, bbraw] = [sb.name('deb'), sb.name('bb'), sb.name('bbraw')]
  const busybox = busyboxTree()
  try {
    cpSync(busybox.path, join(pool, bb), { recursive: true, verbatimSymlinks: true })
    makeGptImage(join(pool, `${bbraw}.raw`), busybox.path)
  } finally {
    busybox.remove()
  }
  const unmount = overlayDebian(sb, pool, tree, deb)
  return {
    sb, pool, deb, bb, bbraw,
    stop: async () => {
      unmount()
      await sb.stop()
      removePool(pool)
    },
  }
}
