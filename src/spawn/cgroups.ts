/**
 * The container's cgroup, host side. With --register=yes machined makes
 * machine.slice/machine-NAME.scope and moves the container's PID 1 in
 * (CreateMachine); we only find that scope, wait for it to empty when the
 * container ends, and leave its removal to machined. Without machined
 * (--register=no) there is no service manager to ask for a scope (nspawn
 * would call systemd's StartTransientUnit), so we make the same scope
 * ourselves; with --keep-unit the container gets a "payload" cgroup below
 * ours, as nspawn's create_subcgroup() does. Either way we remove what we
 * made, depth first (the guest's systemd makes cgroups below it).
 *
 * Every layout works: hybrid (cgroup2 at /sys/fs/cgroup/unified plus
 * name=systemd), pure cgroup2 (at /sys/fs/cgroup) and legacy v1
 * (src/linux/cgroup-layout.ts).
 * @module
 */

import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MACHINE_SLICE, machineScopeName } from '../protocol/unit-name.ts'
import { detectCgroupLayout, trackingHierarchies, type CgroupLayout } from '../linux/cgroup-layout.ts'
import { cgroupIn, parseProcCgroup } from '../linux/cgroup-paths.ts'
import { cgroupPopulated, killCgroupTree, removeCgroupTree } from '../linux/cgroup-tree.ts'
import { readProcCgroup } from '../linux/proc.ts'

const SIGKILL = 9

/** The host's cgroup layout (from /proc/self/mountinfo). */
export function hostLayout(): CgroupLayout {
  const layout = detectCgroupLayout()
  if (layout === undefined) throw new Error('No cgroup hierarchy is mounted')
  return layout
}

/** A process's cgroup in each hierarchy that tracks processes (tracking one first), as [mount, path] pairs. */
function cgroupsOf(pid: number | 'self', layout: CgroupLayout): [string, string | undefined][] {
  const text = readProcCgroup(pid)
  if (text === undefined) throw new Error(`Failed to read the cgroup of process ${pid}: No such process`)
  const lines = parseProcCgroup(text)
  return trackingHierarchies(layout).map((mount) => [mount, cgroupIn(lines, layout, mount)])
}

/** One cgroup in each hierarchy the host tracks processes in. */
export class ContainerCgroup {
  /** Host directories, tracking hierarchy (cgroup2 when there is one) first. */
  readonly dirs: readonly string[]
  /** Directories we made and must remove (empty when machined made them). */
  readonly #owned: readonly string[]

  private constructor(dirs: string[], owned: string[]) {
    this.dirs = dirs
    this.#owned = owned
  }

  /** The cgroup `pid` sits in now (machined's scope, after CreateMachine). */
  static of(pid: number, layout: CgroupLayout = hostLayout()): ContainerCgroup {
    const dirs = cgroupsOf(pid, layout).flatMap(([mount, path]) => (path === undefined ? [] : [join(mount, path)]))
    return new ContainerCgroup(dirs, [])
  }

  /**
   * Makes machine.slice/machine-NAME.scope (--register=no) or a "payload"
   * cgroup below our own (--keep-unit) and moves `pid` there.
   */
  static create(pid: number, placement: { kind: 'scope'; machine: string } | { kind: 'payload' }, layout: CgroupLayout = hostLayout()): ContainerCgroup {
    const dirs: string[] = []
    const owned: string[] = []
    try {
      for (const [mount, own] of cgroupsOf('self', layout)) {
        if (own === undefined) continue
        let rel: string
        if (placement.kind === 'scope') {
          rel = `${MACHINE_SLICE}/${machineScopeName(placement.machine)}`
          if (!existsSync(join(mount, MACHINE_SLICE))) owned.push(join(mount, MACHINE_SLICE))
        } else {
          // A container must not manage the host's root cgroup (Container Interface: no top-level cgroups).
          if (own === '/') throw new Error('--keep-unit needs machined-spawn to run in a cgroup of its own, not the root cgroup')
          rel = join(own.slice(1), 'payload')
        }
        const dir = join(mount, rel)
        if (existsSync(join(dir, 'cgroup.procs')) && cgroupPopulated(dir)) throw new Error(`Cgroup ${dir} is in use already`)
        removeCgroupTree(dir) // an empty leftover of an earlier run
        mkdirSync(dir, { recursive: true })
        owned.push(dir)
        writeFileSync(join(dir, 'cgroup.procs'), `${pid}\n`)
        dirs.push(dir)
      }
      if (dirs.length === 0) throw new Error('No cgroup hierarchy to put the container in')
    } catch (err) {
      new ContainerCgroup(dirs, owned).remove()
      throw err
    }
    return new ContainerCgroup(dirs, owned)
  }

  /** Whether any process is left in the cgroup or below it. */
  populated(): boolean {
    const tracking = this.dirs[0]
    return tracking !== undefined && cgroupPopulated(tracking)
  }

  /** Waits until the cgroup is empty; after `graceMs` whatever is left is killed (the PID namespace is gone by then anyway). */
  async waitEmpty(graceMs = 5000): Promise<void> {
    const deadline = Date.now() + graceMs
    while (this.populated()) {
      if (Date.now() > deadline) for (const dir of this.dirs) killCgroupTree(dir, SIGKILL)
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  /** Removes the cgroups we made, sub-cgroups of the guest first. */
  remove(): void {
    for (const dir of [...this.#owned].reverse()) removeCgroupTree(dir, { recurse: !dir.endsWith(`/${MACHINE_SLICE}`) })
  }
}
