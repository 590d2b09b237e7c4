/**
 * A unit's processes read straight from the cgroup file system. machinectl
 * asks systemd1 for them (GetUnitProcesses); where there is no systemd1
 * (the hosts mctl is for) the cgroup tree itself has the same answer: every
 * process in the unit's cgroup and below, with its cgroup path, in the
 * hierarchy systemd tracks processes in (src/linux/unit-cgroup.ts).
 * @module
 */

import { detectCgroupLayout, type CgroupLayout } from '../../linux/cgroup-layout.ts'
import { cgroupProcesses, locateUnitCgroups, type CgroupProcess } from '../../linux/unit-cgroup.ts'


function hostLayout(): CgroupLayout | undefined {
  try {
    return detectCgroupLayout()
  } catch {
    return undefined // no /proc
  }
}

/** The unit's cgroup path and every process in it and below, or undefined when it cannot be found. */
export function unitProcesses(unit: string, leader: number): { cgroup: string; processes: CgroupProcess[] } | undefined {
  const layout = hostLayout()
  const cgroup = layout === undefined ? undefined : locateUnitCgroups(layout, unit, leader).path
  return layout === undefined || cgroup === undefined ? undefined : { cgroup, processes: cgroupProcesses(layout, cgroup) }
}
