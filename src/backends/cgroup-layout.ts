/**
 * Where the cgroup hierarchies are mounted, read from /proc/self/mountinfo.
 * Three layouts exist: unified (cgroup2 at /sys/fs/cgroup), hybrid (v1
 * controllers, name=systemd at /sys/fs/cgroup/systemd and cgroup2 at
 * /sys/fs/cgroup/unified) and legacy (v1 only). Machines are put in every
 * hierarchy that tracks processes: libsystemd reads the cgroup2 line
 * (sd_pid_get_machine_name), systemd-cgls the name=systemd tree.
 * @module
 */

import { readFile } from 'node:fs/promises'

export interface CgroupLayout {
  readonly kind: 'unified' | 'hybrid' | 'legacy'
  /** cgroup2 mount point, if any. */
  readonly unified: string | undefined
  /** name=systemd v1 mount point, if any. */
  readonly systemdV1: string | undefined
  /** v1 controller mount points we use to enforce scope settings. */
  readonly pidsV1: string | undefined
  readonly devicesV1: string | undefined
}

interface Mount {
  readonly mountPoint: string
  readonly fsType: string
  readonly superOptions: string[]
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)))
}

export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = []
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ')
    if (sep < 0) continue
    const left = line.slice(0, sep).split(' ')
    const right = line.slice(sep + 3).split(' ')
    const mountPoint = left[4]
    const fsType = right[0]
    if (mountPoint === undefined || fsType === undefined) continue
    mounts.push({ mountPoint: unescapeMountinfo(mountPoint), fsType, superOptions: (right[2] ?? '').split(',') })
  }
  return mounts
}

export function layoutFromMountinfo(text: string): CgroupLayout | undefined {
  const mounts = parseMountinfo(text)
  // The last mount on a path wins; keep the first mount of each hierarchy we see.
  const find = (pred: (m: Mount) => boolean): string | undefined => mounts.filter(pred).at(-1)?.mountPoint
  const unified = find((m) => m.fsType === 'cgroup2')
  const v1 = (opt: string): string | undefined =>
    find((m) => m.fsType === 'cgroup' && m.superOptions.includes(opt))
  const systemdV1 = v1('name=systemd')
  const pidsV1 = v1('pids')
  const devicesV1 = v1('devices')
  if (unified === undefined && systemdV1 === undefined) return undefined
  const kind = systemdV1 === undefined ? 'unified' : unified === undefined ? 'legacy' : 'hybrid'
  return { kind, unified, systemdV1, pidsV1, devicesV1 }
}

export async function detectCgroupLayout(): Promise<CgroupLayout | undefined> {
  return layoutFromMountinfo(await readFile('/proc/self/mountinfo', 'utf8'))
}

/**
 * The cgroup a process lives in, in the hierarchy systemd uses to track
 * units: cgroup2 when it is mounted (hybrid included: libsystemd 252 reads
 * the "0::" line there), name=systemd otherwise.
 */
export function trackingPathFromProcCgroup(text: string, layout: CgroupLayout): string | undefined {
  let unified: string | undefined
  let named: string | undefined
  for (const line of text.split('\n')) {
    const first = line.indexOf(':')
    const second = line.indexOf(':', first + 1)
    if (first < 0 || second < 0) continue
    const controllers = line.slice(first + 1, second)
    const path = line.slice(second + 1)
    if (line.slice(0, first) === '0' && controllers === '') unified = path
    else if (controllers.split(',').includes('name=systemd')) named = path
  }
  return layout.unified !== undefined ? unified ?? named : named
}
