/**
 * Where the cgroup hierarchies are mounted. Three layouts exist: unified
 * (cgroup2 at /sys/fs/cgroup, most current distributions), hybrid (v1
 * controllers, name=systemd at /sys/fs/cgroup/systemd and cgroup2 at
 * /sys/fs/cgroup/unified) and legacy (v1 only). systemd tells them apart
 * by statfs() on fixed paths (cg_unified_cached()); we read the mount
 * table instead, so a host that mounts them elsewhere works too, with the
 * same rule for stacked and repeated mounts (./mountinfo.ts).
 *
 * Machines are put in every hierarchy that tracks processes: libsystemd
 * reads the cgroup2 line (sd_pid_get_machine_name(), "0::" in
 * /proc/PID/cgroup, hybrid hosts included), systemd-cgls the name=systemd
 * tree. The tracking hierarchy — whose cgroup.procs and cgroup.events tell
 * whether a unit is empty — is cgroup2 where it is mounted, else
 * name=systemd.
 * @module
 */

import { MountTable, type MountInfo } from './mountinfo.ts'

export interface CgroupLayout {
  readonly kind: 'unified' | 'hybrid' | 'legacy'
  /** cgroup2 mount point, if any. */
  readonly unified: string | undefined
  /** name=systemd v1 mount point, if any. */
  readonly systemdV1: string | undefined
  /** v1 controller mount points used to enforce scope settings (TasksMax=, DeviceAllow=, MemoryMax=). */
  readonly pidsV1: string | undefined
  readonly devicesV1: string | undefined
  readonly memoryV1: string | undefined
  /**
   * v1 controller mount points only read from, for a unit's figures
   * (./cgroup-stats.ts). Optional so that layouts written out by hand
   * (tests) need not name them.
   */
  readonly cpuacctV1?: string | undefined
  readonly blkioV1?: string | undefined
}

/** How each hierarchy of a layout shows in /proc/PID/cgroup: "0::" for cgroup2, else the v1 line naming this controller. */
export const HIERARCHY_KEYS = ['unified', 'name=systemd', 'pids', 'devices', 'memory', 'cpuacct', 'blkio'] as const
export type HierarchyKey = (typeof HIERARCHY_KEYS)[number]

export function layoutFromMounts(table: MountTable): CgroupLayout | undefined {
  const v1 = (option: string): string | undefined =>
    table.find((m: MountInfo) => m.fsType === 'cgroup' && m.superOptions.includes(option))?.mountPoint
  const unified = table.find((m) => m.fsType === 'cgroup2')?.mountPoint
  const systemdV1 = v1('name=systemd')
  if (unified === undefined && systemdV1 === undefined) return undefined
  const kind = systemdV1 === undefined ? 'unified' : unified === undefined ? 'legacy' : 'hybrid'
  return { kind, unified, systemdV1, pidsV1: v1('pids'), devicesV1: v1('devices'), memoryV1: v1('memory'), cpuacctV1: v1('cpuacct'), blkioV1: v1('blkio') }
}

export function layoutFromMountinfo(text: string): CgroupLayout | undefined {
  return layoutFromMounts(MountTable.parse(text))
}

/** This mount namespace's layout; undefined when no hierarchy that tracks processes is mounted. */
export function detectCgroupLayout(mountinfoPath = '/proc/self/mountinfo'): CgroupLayout | undefined {
  return layoutFromMounts(MountTable.read(mountinfoPath))
}

/** The hierarchy whose cgroup.procs and cgroup.events say whether a unit is empty. */
export function trackingHierarchy(layout: CgroupLayout): string | undefined {
  return layout.unified ?? layout.systemdV1
}

/** Every mounted hierarchy that tracks processes, the tracking one first. */
export function trackingHierarchies(layout: CgroupLayout): string[] {
  return [layout.unified, layout.systemdV1].filter((h): h is string => h !== undefined)
}

/** Every mounted hierarchy of the layout: the tracking ones, then the v1 controllers we write settings to. */
export function allHierarchies(layout: CgroupLayout): string[] {
  return [...trackingHierarchies(layout), layout.pidsV1, layout.devicesV1, layout.memoryV1].filter((h): h is string => h !== undefined)
}

/** Where the hierarchy that /proc/PID/cgroup calls `key` is mounted, if it is. */
export function hierarchyMount(layout: CgroupLayout, key: HierarchyKey): string | undefined {
  switch (key) {
    case 'unified': return layout.unified
    case 'name=systemd': return layout.systemdV1
    case 'pids': return layout.pidsV1
    case 'devices': return layout.devicesV1
    case 'memory': return layout.memoryV1
    case 'cpuacct': return layout.cpuacctV1
    case 'blkio': return layout.blkioV1
  }
}

/** Which /proc/PID/cgroup line belongs to the hierarchy mounted at `mount`; undefined for a mount not in the layout. */
export function hierarchyKey(layout: CgroupLayout, mount: string): HierarchyKey | undefined {
  return HIERARCHY_KEYS.find((key) => hierarchyMount(layout, key) === mount)
}
