/**
 * A host whose PID 1 is systemd, for tests that need one: a Debian bookworm
 * guest booted by real systemd-nspawn inside a test sandbox, with systemd as
 * its PID 1 on a pure cgroup2 hierarchy (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1)
 * mounted over a subtree of the host's that is the guest's alone (a cgroup
 * namespace rooted at machine.slice/NAME-nspawn.scope/payload, as nspawn's
 * --keep-unit makes it), its own system bus, and `systemd-machined` masked.
 * This checkout and the host's `node` are bind-mounted read-only at the same
 * paths, so the guest runs the daemon from the checkout's shipped unit
 * (`installMachined()`).
 *
 * Why nspawn and not machined-spawn: the guest is the host the tests run
 * our programs on (machined-spawn among them), so it is made by the
 * reference implementation (./nspawn-guest.ts). It keeps every capability
 * and no seccomp filter (`--capability=all`, SYSTEMD_SECCOMP=0), as a host
 * would, so nested containers work inside (libvirt-lxc, machined-spawn,
 * systemd-nspawn), and gets a private network namespace with only `lo`.
 *
 * Nothing touches the host's /run or bus: nspawn runs inside the sandbox's
 * private mount namespace (its own tmpfs /run), and the guest's bus is the
 * guest's. The tree is a cached variant of the machined-spawn tests' one
 * with what the guest needs (systemd-container, libvirt's LXC and QEMU
 * drivers, dbus tools, busybox for nested guests), booted through a fresh
 * overlay so the cache is never changed.
 *
 *   const guest = await SystemdGuest.start()
 *   await guest.installMachined()             // `machined install-service`, then the unit started
 *   const r = await guest.run(['machinectl', 'list'])   // as one of the guest's services
 *   await guest.stop()
 */

import { symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { CACHE_DIR, prepareFirstBoot, type TreeRecipe } from './debian-tree.ts'
import { NODE, NspawnGuest } from './nspawn-guest.ts'
import { REPO, type ExecResult } from './sandbox.ts'
import { waitBooted } from './spawn.ts'

/** The guest's packages: a systemd host with machinectl/nspawn, libvirt's LXC and QEMU drivers, dbus-monitor. */
export const GUEST_RECIPE: TreeRecipe = {
  dir: join(CACHE_DIR, 'systemd-guest-bookworm-1'),
  include: [
    'systemd', 'systemd-sysv', 'dbus', 'systemd-container', 'iproute2', 'procps', 'util-linux', 'busybox-static', 'python3',
    'libvirt-daemon', 'libvirt-daemon-driver-lxc', 'libvirt-daemon-driver-qemu', 'libvirt-clients', 'qemu-system-x86',
  ],
  prepare: (tree) => {
    prepareFirstBoot(tree)
    // machined-ts takes org.freedesktop.machine1 in the guest: the real one stays off.
    symlinkSync('/dev/null', join(tree, 'etc/systemd/system/systemd-machined.service'))
  },
}

export interface GuestOptions {
  /** Machine name of the guest (default: a unique one). */
  readonly name?: string
  /**
   * `unified` (default): pure cgroup2. `hybrid`: the host's layout (name=systemd
   * and cgroup2, plus the v1 controllers), with each controller's subtree of
   * the guest made writable (nspawn mounts it read-only), as a host's
   * systemd has them; for what needs controllers the host binds to v1
   * (libvirt's LXC driver needs memory, cpuacct and devices). Where the host
   * is pure cgroup2 there are no v1 controllers, and `hybrid` is `unified`.
   */
  readonly cgroups?: 'unified' | 'hybrid'
  /** More systemd-nspawn options (e.g. another --bind-ro). */
  readonly nspawnArgs?: readonly string[]
}

export class SystemdGuest extends NspawnGuest {
  /** Boots the guest (the tree is built on first use, a few minutes) and waits until its systemd is up. */
  static async start(options: GuestOptions = {}): Promise<SystemdGuest> {
    const hybrid = options.cgroups === 'hybrid'
    return SystemdGuest.boot({
      recipe: GUEST_RECIPE, init: 'systemd', hybrid, ...(options.name === undefined ? {} : { name: options.name }),
      ...(options.nspawnArgs === undefined ? {} : { nspawnArgs: options.nspawnArgs }),
      // Unset, nspawn gives the guest the host's layout (hybrid here).
      env: hybrid ? {} : { SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' },
    }, async (guest) => {
      let state = await waitBooted(guest.sandbox, guest.leader, 60_000)
      if (guest.hybrid && (state === 'running' || state === 'degraded')) state = await guest.#delegateControllers()
      if (state === 'running' || state === 'degraded') return
      const failed = await guest.enter(['systemctl', '--failed', '--no-legend'])
      throw new Error(`the guest did not boot (${state}); failed units: ${failed.stdout}\n${guest.output.slice(-3000)}`)
    })
  }

  /**
   * nspawn mounts the v1 controllers read-only in the guest, whose cgroup
   * namespace is rooted at our cgroup: remounted writable, they are the
   * guest's subtrees alone, and a re-executed systemd takes them over as a
   * host's systemd has its controllers. Returns the state after that.
   */
  async #delegateControllers(): Promise<string> {
    // The guest's v1 controller mounts, from its own mount table (every cgroup v1 mount but name=systemd).
    const r = await this.enter(['sh', '-c', 'for c in $(findmnt -rn -t cgroup -o TARGET,FS-OPTIONS | awk \'$2 !~ /name=systemd/ { print $1 }\'); do mount -o remount,bind,rw "$c" || exit 1; done && systemctl daemon-reexec'])
    if (r.code !== 0) throw new Error(`delegating the v1 controllers to the guest failed: ${r.stderr}`)
    return waitBooted(this.sandbox, this.leader, 60_000)
  }

  /**
   * Runs a command inside the guest as one of its own services, as
   * `systemd-run -M GUEST --pipe --wait` would (its cgroup, environment and
   * namespaces are the guest's). systemd expands ${VAR} in a unit's command
   * line: give scripts on stdin (`sh -s`), never as an argument.
   */
  run(argv: readonly string[], options: { input?: string; timeoutMs?: number; properties?: readonly string[] } = {}): Promise<ExecResult> {
    const props = (options.properties ?? []).flatMap((p) => ['-p', p])
    return this.enter(['systemd-run', '--pipe', '--wait', '--quiet', '--collect', '--service-type=exec', ...props, ...argv], options)
  }

  /** The checkout's `machined` as the guest runs it: the host's node on the checkout's bin/machined.js. */
  get machinedCommand(): string[] {
    return [NODE, join(REPO, 'bin/machined.js')]
  }

  /**
   * Installs machined-ts in the guest as an admin would after a global npm
   * install (`machined install-service`: the checkout's shipped units, the
   * D-Bus activation file), then starts it with `systemctl start` unless
   * `start: false`. Returns install-service's output.
   */
  async installMachined(options: { start?: boolean } = {}): Promise<string> {
    const install = await this.enter([...this.machinedCommand, 'install-service'])
    if (install.code !== 0) throw new Error(`machined install-service failed in the guest (${install.code}):\n${install.stdout}${install.stderr}`)
    if (options.start !== false) {
      const start = await this.enter(['systemctl', 'start', 'machined-ts.service'])
      if (start.code !== 0) {
        const status = await this.enter(['systemctl', 'status', '--no-pager', '-n', '30', 'machined-ts.service'])
        throw new Error(`systemctl start machined-ts.service failed in the guest:\n${start.stderr}\n${status.stdout}`)
      }
    }
    return install.stdout
  }

}
