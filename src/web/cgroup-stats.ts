/**
 * A machine's resource use, read from its own cgroup, as systemd reads a
 * unit's (cgroup_get_*() in cgroup-util.c / unit_get_*() in cgroup.c):
 * cgroup2 files where the controller is there, else the v1 controller
 * hierarchies of a hybrid or legacy host. A resource the host does not
 * account for per machine (no cgroup of the machine's own in any hierarchy
 * that has the controller) is undefined, never a host-wide figure.
 *
 * The machine's cgroup in each hierarchy is found from its leader's
 * /proc/PID/cgroup, cut after the unit's own component (a booted guest's
 * PID 1 sits in UNIT/init.scope), and guessed as machine.slice/UNIT when
 * the leader cannot be read.
 *
 * This module is the web console's only cgroup reader; it belongs with the
 * shared Linux plumbing (src/linux/) once that exists.
 * @module
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** Where each hierarchy is mounted. */
export interface CgroupMounts {
  /** The cgroup2 mount, if any. */
  readonly unified: string | undefined
  /** v1 hierarchies by controller ("cpuacct", "memory", "pids", "blkio", "name=systemd"). */
  readonly v1: ReadonlyMap<string, string>
}

const V1_CONTROLLERS = ['cpuacct', 'memory', 'pids', 'blkio', 'name=systemd'] as const

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)))
}

/** The hierarchies of /proc/self/mountinfo (the first mount of each). */
export function parseCgroupMounts(mountinfo: string): CgroupMounts {
  let unified: string | undefined
  const v1 = new Map<string, string>()
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ')
    if (sep < 0) continue
    const mountPoint = line.slice(0, sep).split(' ')[4]
    const [fsType, , superOpts = ''] = line.slice(sep + 3).split(' ')
    if (mountPoint === undefined) continue
    if (fsType === 'cgroup2') unified ??= unescapeMountinfo(mountPoint)
    else if (fsType === 'cgroup') {
      const options = superOpts.split(',')
      for (const c of V1_CONTROLLERS) if (options.includes(c) && !v1.has(c)) v1.set(c, unescapeMountinfo(mountPoint))
    }
  }
  return { unified, v1 }
}

export function readCgroupMounts(): CgroupMounts {
  return parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'))
}

/** A machine's own cgroup directory in each hierarchy where it has one. */
export interface MachineCgroups {
  readonly unified: string | undefined
  readonly v1: ReadonlyMap<string, string>
  /** The path relative to the tracking hierarchy's root, e.g. /machine.slice/machine-x.scope. */
  readonly path: string | undefined
}

/** "/a/UNIT/init.scope" → "/a/UNIT"; undefined when the unit is not a component. */
function cutAtUnit(path: string, unit: string): string | undefined {
  const parts = path.split('/')
  const at = parts.indexOf(unit)
  return at > 0 ? parts.slice(0, at + 1).join('/') : undefined
}

/** Finds the machine's cgroups from its leader (and unit name); hierarchies it has no cgroup of its own in are left out. */
export function machineCgroups(mounts: CgroupMounts, unit: string, leader: number): MachineCgroups {
  let own: string | undefined
  const v1 = new Map<string, string>()
  let unifiedPath: string | undefined
  let text = ''
  try {
    text = leader > 0 ? readFileSync(`/proc/${leader}/cgroup`, 'utf8') : ''
  } catch {
    text = ''
  }
  for (const line of text.split('\n')) {
    const first = line.indexOf(':')
    const second = line.indexOf(':', first + 1)
    if (first < 0 || second < 0) continue
    const controllers = line.slice(first + 1, second)
    const cut = unit === '' ? undefined : cutAtUnit(line.slice(second + 1), unit)
    if (cut === undefined) continue
    if (line.slice(0, first) === '0' && controllers === '') unifiedPath = cut
    for (const c of controllers.split(',')) {
      const mount = mounts.v1.get(c)
      if (mount !== undefined) v1.set(c, join(mount, cut))
    }
    own ??= cut
  }
  if (own === undefined && unit !== '') {
    // No leader to ask: where systemd and machined-ts put machines.
    const guess = `/machine.slice/${unit}`
    if (mounts.unified !== undefined && existsSync(join(mounts.unified, guess))) unifiedPath = guess
    for (const [c, mount] of mounts.v1) if (existsSync(join(mount, guess))) v1.set(c, join(mount, guess))
    if (unifiedPath !== undefined || v1.size > 0) own = guess
  }
  const unified = mounts.unified !== undefined && unifiedPath !== undefined ? join(mounts.unified, unifiedPath) : undefined
  return { unified, v1, path: unifiedPath ?? own }
}

/** What a machine's cgroup says now; undefined where the host does not account for it. */
export interface CgroupStats {
  readonly cpuSeconds: number | undefined
  readonly memoryBytes: number | undefined
  readonly tasks: number | undefined
  readonly ioReadBytes: number | undefined
  readonly ioWriteBytes: number | undefined
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

function readNumber(path: string): number | undefined {
  const text = readText(path)
  if (text === undefined) return undefined
  const n = Number(text.trim())
  return Number.isFinite(n) ? n : undefined
}

/** "key value" lines (cpu.stat, memory.stat): the value of `key`. */
export function keyedValue(text: string, key: string): number | undefined {
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ')
    if (space > 0 && line.slice(0, space) === key) {
      const n = Number(line.slice(space + 1))
      return Number.isFinite(n) ? n : undefined
    }
  }
  return undefined
}

/** cgroup2 io.stat ("8:0 rbytes=1 wbytes=2 …" per device): the sums over devices. */
export function parseIoStat(text: string): { read: number; write: number } {
  let read = 0
  let write = 0
  for (const m of text.matchAll(/\b([rw])bytes=(\d+)/g)) {
    if (m[1] === 'r') read += Number(m[2])
    else write += Number(m[2])
  }
  return { read, write }
}

/** v1 blkio.throttle.io_service_bytes_recursive ("8:0 Read 123" per device, then "Total"): the sums over devices. */
export function parseBlkioServiceBytes(text: string): { read: number; write: number } {
  let read = 0
  let write = 0
  for (const line of text.split('\n')) {
    const [device, op, value] = line.split(' ')
    if (device === undefined || device === 'Total' || value === undefined) continue
    if (op === 'Read') read += Number(value)
    else if (op === 'Write') write += Number(value)
  }
  return { read, write }
}

/** Threads in `dir` and every cgroup below it (the `file` lists one TID per line). */
function countTasks(dir: string, file: string): number | undefined {
  const text = readText(join(dir, file))
  if (text === undefined) return undefined
  let n = 0
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++
  let entries: string[] = []
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)
  } catch {
    return n
  }
  for (const sub of entries) n += countTasks(join(dir, sub), file) ?? 0
  return n
}

/** Reads every figure of the machine's cgroups (a few small files; no process is looked at). */
export function readCgroupStats(c: MachineCgroups): CgroupStats {
  const u = c.unified
  // cpu.stat is a core file of every cgroup2 cgroup (kernel ≥ 4.15), controller or not.
  const usage = u === undefined ? undefined : keyedValue(readText(join(u, 'cpu.stat')) ?? '', 'usage_usec')
  const cpuacct = c.v1.get('cpuacct')
  const cpuSeconds = usage !== undefined ? usage / 1e6 : cpuacct === undefined ? undefined : mapDefined(readNumber(join(cpuacct, 'cpuacct.usage')), (ns) => ns / 1e9)
  const memoryV1 = c.v1.get('memory')
  const memoryBytes = (u === undefined ? undefined : readNumber(join(u, 'memory.current')))
    ?? (memoryV1 === undefined ? undefined : readNumber(join(memoryV1, 'memory.usage_in_bytes')))
  const pidsV1 = c.v1.get('pids')
  const systemdV1 = c.v1.get('name=systemd')
  const tasks = (u === undefined ? undefined : readNumber(join(u, 'pids.current')))
    ?? (pidsV1 === undefined ? undefined : readNumber(join(pidsV1, 'pids.current')))
    ?? (u !== undefined ? countTasks(u, 'cgroup.threads') : systemdV1 === undefined ? undefined : countTasks(systemdV1, 'tasks'))
  const ioV2 = u === undefined ? undefined : readText(join(u, 'io.stat'))
  const blkio = c.v1.get('blkio')
  const io = ioV2 !== undefined ? parseIoStat(ioV2)
    : blkio === undefined ? undefined : mapDefined(readText(join(blkio, 'blkio.throttle.io_service_bytes_recursive')), parseBlkioServiceBytes)
  return { cpuSeconds, memoryBytes, tasks, ioReadBytes: io?.read, ioWriteBytes: io?.write }
}

function mapDefined<T, U>(value: T | undefined, f: (v: T) => U): U | undefined {
  return value === undefined ? undefined : f(value)
}

/** The processes of one cgroup directory and every one below it, as the tree `mctl status` draws. */
export interface CgroupTree<P> {
  readonly cgroup: string
  readonly processes: P[]
  readonly children: CgroupTree<P>[]
}

/**
 * Walks the tracking hierarchy (cgroup2, else name=systemd) below the
 * machine's cgroup; `describe` names each PID (undefined: gone, left out).
 * Cgroups with no process anywhere below are left out, as systemd does.
 */
export function machineProcessTree<P>(mounts: CgroupMounts, c: MachineCgroups, describe: (pid: number) => P | undefined): CgroupTree<P> | undefined {
  const root = mounts.unified ?? mounts.v1.get('name=systemd')
  if (root === undefined || c.path === undefined) return undefined
  const walk = (cgroup: string): CgroupTree<P> | undefined => {
    const dir = join(root, cgroup)
    const procs = readText(join(dir, 'cgroup.procs'))
    if (procs === undefined) return undefined
    const processes: P[] = []
    for (const line of procs.split('\n')) {
      const pid = Number(line)
      if (line === '' || !Number.isInteger(pid) || pid <= 0) continue
      const p = describe(pid)
      if (p !== undefined) processes.push(p)
    }
    let subdirs: string[] = []
    try {
      subdirs = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort()
    } catch {
      subdirs = []
    }
    const children = subdirs.map((s) => walk(`${cgroup}/${s}`)).filter((t): t is CgroupTree<P> => t !== undefined)
    return processes.length === 0 && children.length === 0 ? undefined : { cgroup, processes, children }
  }
  return walk(c.path) ?? { cgroup: c.path, processes: [], children: [] }
}
