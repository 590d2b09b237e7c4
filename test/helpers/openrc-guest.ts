/**
 * A host under OpenRC, for the init script's test: a Debian bookworm tree
 * with Debian's `openrc` (and dbus, whose LSB script OpenRC runs), booted by
 * systemd-nspawn with openrc-init as PID 1 (/sbin/init points at it), until
 * OpenRC has reached the default runlevel. Built on ./nspawn-guest.ts: this
 * checkout and the host's node are there read-only, the host's /run and bus
 * are never touched.
 *
 *   const guest = await OpenrcGuest.start()
 *   await guest.enter(['rc-service', 'machined-ts', 'start'])
 *   await guest.stop()
 */

import { existsSync, symlinkSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { CACHE_DIR, prepareFirstBoot, type TreeRecipe } from './debian-tree.ts'
import { NODE, NspawnGuest } from './nspawn-guest.ts'
import { eventually, REPO } from './sandbox.ts'

export const OPENRC_RECIPE: TreeRecipe = {
  dir: join(CACHE_DIR, 'openrc-guest-bookworm-1'),
  include: ['openrc', 'dbus', 'procps'],
  prepare: (tree) => {
    prepareFirstBoot(tree)
    const init = join(tree, 'sbin/init')
    if (existsSync(init)) unlinkSync(init)
    symlinkSync('openrc-init', init)
  },
}

export class OpenrcGuest extends NspawnGuest {
  /** Boots the guest (the tree is built on first use) and waits for the default runlevel. */
  static async start(): Promise<OpenrcGuest> {
    // The host's network: with a private one nspawn makes /sys a tmpfs of sysfs parts, which OpenRC
    // takes for no sysfs at all and mounts sysfs over, hiding /sys/fs/cgroup.
    return OpenrcGuest.boot({ recipe: OPENRC_RECIPE, init: 'init', privateNetwork: false, env: { SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' } }, async (guest) => {
      await eventually(async () => (await guest.enter(['cat', '/run/openrc/softlevel'])).stdout.trim() === 'default', 60_000, 'OpenRC to reach the default runlevel')
    })
  }

  /** The checkout's `machined` as the guest runs it. */
  get machinedCommand(): string[] {
    return [NODE, join(REPO, 'bin/machined.js')]
  }

  /** openrc-init powers off on `openrc-shutdown`; then the rest as for any guest. */
  override async stop(): Promise<number | null> {
    await this.enter(['openrc-shutdown', '--poweroff', 'now'], { timeoutMs: 30_000 }).catch(() => undefined)
    return super.stop()
  }
}
