/**
 * A unit's processes read straight from the cgroup file system. machinectl
 * asks systemd1 for them (GetUnitProcesses); where there is no systemd1
 * (the hosts mctl is for) the cgroup tree itself has the same answer: every
 * process in the unit's cgroup and below, with its cgroup path.
 * @module
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { processCmdline } from './proc.ts'

export interface CgroupProcess {
  /** The cgroup the process is in, relative to the hierarchy root ("/machine.slice/x.scope"). */
  readonly cgroup: string
  readonly pid: number
  /** Its command line (or "[comm]"). */
  readonly name: string
}

interface Hierarchy {
  readonly mount: string
  /** How the hierarchy appears in /proc/PID/cgroup: "0::" for cgroup2, "N:name=systemd:" for systemd's v1 one. */
  readonly matches: (line: string) => string | undefined
}

/** The hierarchy systemd tracks processes in: cgroup2 where mounted (pure or hybrid), else name=systemd. */
function trackingHierarchy(mountinfo: string): Hierarchy | undefined {
  let v2: string | undefined
  let v1: string | undefined
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ')
    if (sep < 0) continue
    const mountPoint = line.slice(0, sep).split(' ')[4]
    const [fsType, , superOpts = ''] = line.slice(sep + 3).split(' ')
    if (mountPoint === undefined) continue
    if (fsType === 'cgroup2') v2 ??= mountPoint
    else if (fsType === 'cgroup' && superOpts.split(',').includes('name=systemd')) v1 ??= mountPoint
  }
  if (v2 !== undefined) return { mount: v2, matches: (l) => (l.startsWith('0::') ? l.slice(3) : undefined) }
  if (v1 !== undefined) return { mount: v1, matches: (l) => /^\d+:(?:[^:]*,)?name=systemd(?:,[^:]*)?:(.*)$/.exec(l)?.[1] }
  return undefined
}

/** "a-b.slice" → "/a.slice/a-b.slice", as systemd nests slices. */
function slicePath(slice: string): string {
  if (slice === '-.slice') return '/'
  const parts = slice.slice(0, -'.slice'.length).split('-')
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join('-')}.slice`).join('')
}

/**
 * The unit's cgroup: where its leader lives, cut after the unit's own
 * component; for a slice, its path; else machine.slice/UNIT if present.
 */
function unitCgroup(h: Hierarchy, unit: string, leader: number): string | undefined {
  if (unit.endsWith('.slice')) return slicePath(unit)
  let own: string | undefined
  try {
    own = readFileSync(`/proc/${leader}/cgroup`, 'utf8').split('\n').map(h.matches).find((p) => p !== undefined)
  } catch {
    own = undefined
  }
  if (own !== undefined) {
    const parts = own.split('/')
    const at = parts.indexOf(unit)
    if (at > 0) return parts.slice(0, at + 1).join('/')
  }
  const guess = `/machine.slice/${unit}`
  return existsSync(`${h.mount}${guess}`) ? guess : undefined
}

function collect(mount: string, cgroup: string, out: CgroupProcess[]): void {
  const dir = cgroup === '/' ? mount : `${mount}${cgroup}`
  let procs: string
  try {
    procs = readFileSync(`${dir}/cgroup.procs`, 'utf8')
  } catch {
    return // gone meanwhile
  }
  for (const line of procs.split('\n')) {
    const pid = Number(line)
    if (line === '' || !Number.isInteger(pid) || pid <= 0) continue
    const name = processCmdline(pid)
    if (name !== undefined) out.push({ cgroup, pid, name })
  }
  let subdirs: string[] = []
  try {
    subdirs = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)
  } catch {
    return
  }
  for (const sub of subdirs) collect(mount, cgroup === '/' ? `/${sub}` : `${cgroup}/${sub}`, out)
}

/** The unit's cgroup path and every process in it and below, or undefined when it cannot be found. */
export function unitProcesses(unit: string, leader: number): { cgroup: string; processes: CgroupProcess[] } | undefined {
  let mountinfo: string
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')
  } catch {
    return undefined
  }
  const h = trackingHierarchy(mountinfo)
  if (h === undefined) return undefined
  const cgroup = unitCgroup(h, unit, leader)
  if (cgroup === undefined) return undefined
  const processes: CgroupProcess[] = []
  collect(h.mount, cgroup, processes)
  return { cgroup, processes }
}
