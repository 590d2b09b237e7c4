/**
 * Where things live in a cgroup hierarchy: a process's cgroup, read from
 * /proc/PID/cgroup ("ID:CONTROLLERS:PATH" per hierarchy; "0::PATH" is
 * cgroup2), and a unit's cgroup, as systemd nests units below their slices
 * ("machine.slice/machine-x.scope"). Paths are relative to the hierarchy's
 * root and start with "/".
 * @module
 */

import { ownString } from '../protocol/own-string.ts'
import { sliceCgroupPath, unitFromCgroupPath } from '../protocol/unit-name.ts'
import { hierarchyKey, trackingHierarchy, type CgroupLayout, type HierarchyKey } from './cgroup-layout.ts'

export interface ProcCgroupLine {
  readonly hierarchyId: number
  /** The v1 controllers bound to the hierarchy ("name=systemd" for systemd's named one); empty for cgroup2. */
  readonly controllers: readonly string[]
  readonly path: string
}

/** Parses /proc/PID/cgroup; a path may itself hold colons. */
export function parseProcCgroup(text: string): ProcCgroupLine[] {
  const lines: ProcCgroupLine[] = []
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line)
    if (m === null) continue
    lines.push({ hierarchyId: Number(m[1]), controllers: m[2] === '' ? [] : m[2]!.split(','), path: m[3]! })
  }
  return lines
}

/** The process's cgroup in one hierarchy, from its parsed /proc/PID/cgroup. */
export function cgroupOf(lines: readonly ProcCgroupLine[], key: HierarchyKey): string | undefined {
  const line = key === 'unified'
    ? lines.find((l) => l.hierarchyId === 0 && l.controllers.length === 0)
    : lines.find((l) => l.hierarchyId !== 0 && l.controllers.includes(key))
  return line?.path
}

/** The process's cgroup in the hierarchy mounted at `mount` (one of the layout's). */
export function cgroupIn(lines: readonly ProcCgroupLine[], layout: CgroupLayout, mount: string): string | undefined {
  const key = hierarchyKey(layout, mount)
  return key === undefined ? undefined : cgroupOf(lines, key)
}

/** The process's cgroup in the tracking hierarchy (cgroup2 where mounted, else name=systemd). */
export function trackingCgroup(lines: readonly ProcCgroupLine[], layout: CgroupLayout): string | undefined {
  const tracking = trackingHierarchy(layout)
  return tracking === undefined ? undefined : cgroupIn(lines, layout, tracking)
}

/**
 * trackingCgroup(parseProcCgroup(text), layout), found in the text at
 * once where cgroup2 tracks: its line is the one that starts with "0::"
 * (asked on every registration, and for every machine a restart adopts).
 */
export function trackingCgroupOfText(text: string, layout: CgroupLayout): string | undefined {
  if (layout.unified === undefined) return trackingCgroup(parseProcCgroup(text), layout)
  const at = text.startsWith('0::') ? 0 : text.indexOf('\n0::') + 1
  if (at <= 0 && !text.startsWith('0::')) return undefined
  const end = text.indexOf('\n', at)
  return text.slice(at + 3, end < 0 ? text.length : end)
}

/** The cgroup of a slice ("a-b.slice" → "/a.slice/a-b.slice"; "-.slice" → "/"). */
export function sliceCgroup(slice: string): string {
  return `/${sliceCgroupPath(slice)}`
}

/** Where a unit below `slice` lives: "/machine.slice/machine-x.scope". */
export function unitCgroupPath(slice: string, unit: string): string {
  return `/${[sliceCgroupPath(slice), unit].filter((p) => p !== '').join('/')}`
}

/**
 * The unit a cgroup belongs to (cg_path_get_unit()) and that unit's own
 * cgroup: the path cut after the unit's component, so a process in
 * "/machine.slice/machine-x.scope/init.scope" belongs to machine-x.scope
 * at "/machine.slice/machine-x.scope".
 */
export function unitOfCgroupPath(path: string): { unit: string; cgroup: string } | undefined {
  const unit = unitFromCgroupPath(path)
  if (unit === undefined) return undefined
  const cgroup = unitCgroupIn(path, unit)
  // Kept with a machine: own copies, not views into the /proc/PID/cgroup text they were cut from.
  return cgroup === undefined ? undefined : { unit: ownString(unit), cgroup: ownString(cgroup) }
}

/** `path` cut after the component naming `unit`; undefined when the unit is not on it. */
export function unitCgroupIn(path: string, unit: string): string | undefined {
  const parts = path.split('/')
  const at = parts.indexOf(unit)
  return at <= 0 ? undefined : parts.slice(0, at + 1).join('/')
}
