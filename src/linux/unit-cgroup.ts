/**
 * Finding a unit's own cgroup from the outside, as a tool that is not the
 * service manager must (mctl status, the web console): in each hierarchy,
 * its leader's /proc/PID/cgroup line cut after the unit's component (a
 * booted guest's PID 1 sits in UNIT/init.scope, the unit's cgroup is
 * UNIT), else where systemd and machined-ts put a unit of that name
 * (machine.slice/UNIT; a slice at its own path) when it is there. Then the
 * processes in it and below, in the hierarchy that tracks processes, as
 * systemd's GetUnitProcesses() lists them.
 * @module
 */

import { existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { MACHINE_SLICE } from '../protocol/unit-name.ts'
import { HIERARCHY_KEYS, hierarchyMount, trackingHierarchy, type CgroupLayout, type HierarchyKey } from './cgroup-layout.ts'
import { cgroupOf, parseProcCgroup, sliceCgroup, unitCgroupIn, unitCgroupPath } from './cgroup-paths.ts'
import { cgroupPids, cgroupTree } from './cgroup-tree.ts'
import { processCmdline, readProcCgroup } from './proc.ts'

export interface UnitCgroups {
  /** The unit's cgroup relative to the hierarchy roots ("/machine.slice/machine-x.scope"); undefined when not found. */
  readonly path: string | undefined
  /** Its directory in each mounted hierarchy where it has a cgroup of its own. */
  readonly dirs: ReadonlyMap<HierarchyKey, string>
}

const NOT_FOUND: UnitCgroups = { path: undefined, dirs: new Map() }

/** Where `unit` lives, found from its `leader` (0: none known). */
export function locateUnitCgroups(layout: CgroupLayout, unit: string, leader: number, procRoot = '/proc'): UnitCgroups {
  if (unit === '') return NOT_FOUND
  const tracking = trackingHierarchy(layout)
  const dirs = new Map<HierarchyKey, string>()
  let path: string | undefined
  // A slice is where its name says; a leader deeper down does not move it.
  const text = unit.endsWith('.slice') || leader <= 0 ? undefined : readProcCgroup(leader, procRoot)
  if (text !== undefined) {
    const lines = parseProcCgroup(text)
    for (const key of HIERARCHY_KEYS) {
      const mount = hierarchyMount(layout, key)
      const line = mount === undefined ? undefined : cgroupOf(lines, key)
      const own = line === undefined ? undefined : unitCgroupIn(line, unit)
      if (mount === undefined || own === undefined) continue
      dirs.set(key, join(mount, own))
      if (path === undefined || mount === tracking) path = own
    }
  }
  if (dirs.size > 0) return { path, dirs }
  const guess = unit.endsWith('.slice') ? sliceCgroup(unit) : unitCgroupPath(MACHINE_SLICE, unit)
  for (const key of HIERARCHY_KEYS) {
    const mount = hierarchyMount(layout, key)
    if (mount !== undefined && existsSync(join(mount, guess))) dirs.set(key, join(mount, guess))
  }
  return dirs.size === 0 ? NOT_FOUND : { path: guess, dirs }
}

export interface CgroupProcess {
  /** The cgroup the process is in, relative to the hierarchy root ("/machine.slice/x.scope/init.scope"). */
  readonly cgroup: string
  readonly pid: number
  /** Its command line (or "[comm]"), control characters escaped. */
  readonly name: string
}

/** Every process in the cgroup at `path` and below, in the tracking hierarchy, each cgroup before its children; gone ones left out. */
export function cgroupProcesses(layout: CgroupLayout, path: string, procRoot = '/proc'): CgroupProcess[] {
  const mount = trackingHierarchy(layout)
  if (mount === undefined) return []
  const processes: CgroupProcess[] = []
  const top = join(mount, path)
  for (const dir of cgroupTree(top)) {
    const cgroup = join(path, relative(top, dir))
    for (const pid of cgroupPids(dir)) {
      const name = processCmdline(pid, procRoot)
      if (name !== undefined) processes.push({ cgroup, pid, name })
    }
  }
  return processes
}
