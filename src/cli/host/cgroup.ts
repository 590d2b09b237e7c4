/**
 * A unit's processes read straight from the cgroup file system. machinectl
 * asks systemd1 for them (GetUnitProcesses); where there is no systemd1
 * (the hosts mctl is for) the cgroup tree itself has the same answer: every
 * process in the unit's cgroup and below, with its cgroup path, in the
 * hierarchy systemd tracks processes in.
 * @module
 */

import { existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { MACHINE_SLICE } from '../../protocol/unit-name.ts'
import { detectCgroupLayout, trackingHierarchy, type CgroupLayout } from '../../linux/cgroup-layout.ts'
import { parseProcCgroup, sliceCgroup, trackingCgroup, unitCgroupIn } from '../../linux/cgroup-paths.ts'
import { cgroupPids, cgroupTree } from '../../linux/cgroup-tree.ts'
import { processCmdline, readProcCgroup } from '../../linux/proc.ts'

export interface CgroupProcess {
  /** The cgroup the process is in, relative to the hierarchy root ("/machine.slice/x.scope"). */
  readonly cgroup: string
  readonly pid: number
  /** Its command line (or "[comm]"). */
  readonly name: string
}

function hostLayout(): CgroupLayout | undefined {
  try {
    return detectCgroupLayout()
  } catch {
    return undefined // no /proc
  }
}

/**
 * The unit's cgroup: where its leader lives, cut after the unit's own
 * component; for a slice, its path; else machine.slice/UNIT if present.
 */
function unitCgroup(mount: string, unit: string, leaderCgroup: string | undefined): string | undefined {
  if (unit.endsWith('.slice')) return sliceCgroup(unit)
  const own = leaderCgroup === undefined ? undefined : unitCgroupIn(leaderCgroup, unit)
  if (own !== undefined) return own
  const guess = `/${MACHINE_SLICE}/${unit}`
  return existsSync(join(mount, guess)) ? guess : undefined
}

/** The unit's cgroup path and every process in it and below, or undefined when it cannot be found. */
export function unitProcesses(unit: string, leader: number): { cgroup: string; processes: CgroupProcess[] } | undefined {
  const layout = hostLayout()
  const mount = layout === undefined ? undefined : trackingHierarchy(layout)
  if (layout === undefined || mount === undefined) return undefined
  const text = readProcCgroup(leader)
  const cgroup = unitCgroup(mount, unit, text === undefined ? undefined : trackingCgroup(parseProcCgroup(text), layout))
  if (cgroup === undefined) return undefined
  const processes: CgroupProcess[] = []
  const top = join(mount, cgroup)
  for (const dir of cgroupTree(top)) {
    const path = join(cgroup, relative(top, dir))
    for (const pid of cgroupPids(dir)) {
      const name = processCmdline(pid)
      if (name !== undefined) processes.push({ cgroup: path, pid, name })
    }
  }
  return { cgroup, processes }
}
