/**
 * Cgroup paths for tests, derived from the layout a world detects (its
 * mount table), never from a hard-coded hierarchy: the same test runs on a
 * hybrid host (cgroup2 at /sys/fs/cgroup/unified plus name=systemd), a pure
 * cgroup2 one (/sys/fs/cgroup) or inside a guest. The layout code is the
 * daemon's own (src/linux/), so a test and the daemon agree on where a
 * machine's scope is.
 * @module
 */

import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { allHierarchies, detectCgroupLayout, hierarchyKey, trackingHierarchies, type CgroupLayout } from '../../src/linux/cgroup-layout.ts'
import { cgroupOf, parseProcCgroup, unitCgroupPath } from '../../src/linux/cgroup-paths.ts'
import { killCgroupTree, removeCgroupTree } from '../../src/linux/cgroup-tree.ts'
import { MACHINE_SLICE, machineScopeName } from '../../src/protocol/unit-name.ts'

const SIGKILL = 9

/** The layout mounted in the mount namespace `mountinfo` describes (this process's by default); throws without one. */
export function cgroupLayoutOf(mountinfo = '/proc/self/mountinfo'): CgroupLayout {
  const layout = detectCgroupLayout(mountinfo)
  if (layout === undefined) throw new Error(`no cgroup hierarchy that tracks processes is mounted (${mountinfo})`)
  return layout
}

/** The cgroup of a machine's scope, "/machine.slice/machine-NAME.scope" (escaped as systemd escapes it). */
export function machineScopeCgroup(name: string): string {
  return unitCgroupPath(MACHINE_SLICE, machineScopeName(name))
}

/** `cgroup` in every hierarchy of `layout` that tracks processes, the tracking one first; `root` prefixes each (a /proc/PID/root). */
export function trackingDirs(layout: CgroupLayout, cgroup: string, root = ''): string[] {
  return trackingHierarchies(layout).map((h) => `${root}${join(h, cgroup)}`)
}

/**
 * The same hierarchy as this process's mount table has it: a world's
 * cgroup2 or name=systemd mount is the host's own hierarchy (cgroups are
 * not namespaced), wherever the world mounts it. Undefined when the host
 * does not mount it.
 */
export function hostMountOf(worldLayout: CgroupLayout, worldMount: string): string | undefined {
  const key = hierarchyKey(worldLayout, worldMount)
  const host = cgroupLayoutOf()
  return allHierarchies(host).find((h) => hierarchyKey(host, h) === key)
}

/** `cgroup` in each tracking hierarchy of a world's layout, as this process reaches it through the host's mounts. */
export function hostTrackingDirs(worldLayout: CgroupLayout, cgroup: string): string[] {
  return trackingHierarchies(worldLayout).flatMap((h) => {
    const mount = hostMountOf(worldLayout, h)
    return mount === undefined ? [] : [join(mount, cgroup)]
  })
}

/**
 * `cgroup` in the v1 memory and pids hierarchies of `layout`, where every
 * scope is accounted (systemd 252's DefaultMemoryAccounting=yes and
 * DefaultTasksAccounting=yes, which machined-ts copies): [controller, dir].
 */
export function accountingDirs(layout: CgroupLayout, cgroup: string, root = ''): ['memory' | 'pids', string][] {
  return ([['memory', layout.memoryV1], ['pids', layout.pidsV1]] as const).flatMap(([c, h]) => (h === undefined ? [] : [[c, `${root}${join(h, cgroup)}`] as ['memory' | 'pids', string]]))
}

/**
 * The process's cgroup in each hierarchy of `layout` that tracks
 * processes, from its /proc/PID/cgroup text (read in the world's cgroup
 * namespace): what libsystemd and systemd-cgls read there.
 */
export function trackingCgroupsOf(layout: CgroupLayout, procCgroup: string): string[] {
  const lines = parseProcCgroup(procCgroup)
  return trackingHierarchies(layout).map((h) => cgroupOf(lines, hierarchyKey(layout, h)!) ?? '(none)')
}

/**
 * Where a scope's TasksMax= shows in `layout`: the v1 pids controller's
 * pids.max where one is mounted, else cgroup2's where its root offers the
 * pids controller; undefined where neither is there to enforce it.
 * `root` as for trackingDirs().
 */
export function pidsMaxFile(layout: CgroupLayout, cgroup: string, root = ''): string | undefined {
  if (layout.pidsV1 !== undefined) return `${root}${join(layout.pidsV1, cgroup, 'pids.max')}`
  if (layout.unified !== undefined && rootControllers(layout, root).includes('pids')) return `${root}${join(layout.unified, cgroup, 'pids.max')}`
  return undefined
}

/**
 * Where a scope's MemoryMax= shows in `layout`: cgroup2's memory.max where
 * its root offers the memory controller, else the v1 memory controller's
 * memory.limit_in_bytes where one is mounted (as systemd picks on hybrid
 * hosts: the controller lives in one hierarchy only); undefined where
 * neither is there.
 */
export function memoryMaxFile(layout: CgroupLayout, cgroup: string, root = ''): string | undefined {
  if (layout.unified !== undefined && rootControllers(layout, root).includes('memory')) return `${root}${join(layout.unified, cgroup, 'memory.max')}`
  if (layout.memoryV1 !== undefined) return `${root}${join(layout.memoryV1, cgroup, 'memory.limit_in_bytes')}`
  return undefined
}

/** The controllers cgroup2's root offers (cgroup.controllers): none but those no v1 hierarchy has bound. */
export function rootControllers(layout: CgroupLayout, root = ''): string[] {
  if (layout.unified === undefined) return []
  try {
    return readFileSync(`${root}${join(layout.unified, 'cgroup.controllers')}`, 'utf8').trim().split(/\s+/).filter((c) => c !== '')
  } catch {
    return []
  }
}

/** SIGKILLs everything in `dir` and below, then removes the cgroups (children first); what stays busy is left. */
export function killAndRemove(dir: string): void {
  if (!existsSync(dir)) return
  killCgroupTree(dir, SIGKILL)
  removeCgroupTree(dir)
}
