/**
 * A unit's resource use, read from its own cgroup as systemd reads a
 * unit's (unit_get_cpu_usage(), unit_get_memory_current(),
 * unit_get_tasks_current(), unit_get_io_accounting() in cgroup.c): the
 * cgroup2 file where the controller is there, else the v1 controller's
 * hierarchy of a hybrid or legacy host. A figure the host does not account
 * for the unit (no cgroup of its own in a hierarchy that has the
 * controller) is undefined, never a host-wide number. A few small files
 * are read; no process is looked at.
 * @module
 */

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cgroupTree } from './cgroup-tree.ts'
import type { UnitCgroups } from './unit-cgroup.ts'

export interface CgroupStats {
  readonly cpuSeconds: number | undefined
  readonly memoryBytes: number | undefined
  readonly tasks: number | undefined
  readonly ioReadBytes: number | undefined
  readonly ioWriteBytes: number | undefined
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1')
  } catch {
    return undefined
  }
}

/** A file holding one number ("max" and the like are no number). */
function readNumber(dir: string | undefined, file: string): number | undefined {
  const text = dir === undefined ? undefined : readText(join(dir, file))
  if (text === undefined || !/^\d+\s*$/.test(text)) return undefined
  return Number(text)
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

/** Threads in `dir` and every cgroup below it (`file` lists one TID a line: cgroup.threads, v1's tasks). */
function countThreads(dir: string, file: string): number | undefined {
  let n: number | undefined
  for (const d of cgroupTree(dir)) {
    const text = readText(join(d, file))
    if (text === undefined) continue
    n ??= 0
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++
  }
  return n
}

function cpuSeconds(c: UnitCgroups): number | undefined {
  const unified = c.dirs.get('unified')
  // cpu.stat is a core file of every cgroup2 cgroup (Linux 4.15+), controller or not.
  const text = unified === undefined ? undefined : readText(join(unified, 'cpu.stat'))
  const usec = text === undefined ? undefined : keyedValue(text, 'usage_usec')
  if (usec !== undefined) return usec / 1e6
  const ns = readNumber(c.dirs.get('cpuacct'), 'cpuacct.usage')
  return ns === undefined ? undefined : ns / 1e9
}

function tasks(c: UnitCgroups): number | undefined {
  const unified = c.dirs.get('unified')
  const counted = readNumber(unified, 'pids.current') ?? readNumber(c.dirs.get('pids'), 'pids.current')
  if (counted !== undefined) return counted
  // No pids controller for the unit: count the threads of its cgroup tree instead.
  if (unified !== undefined) return countThreads(unified, 'cgroup.threads')
  const systemd = c.dirs.get('name=systemd')
  return systemd === undefined ? undefined : countThreads(systemd, 'tasks')
}

function io(c: UnitCgroups): { read: number; write: number } | undefined {
  const unified = c.dirs.get('unified')
  const stat = unified === undefined ? undefined : readText(join(unified, 'io.stat'))
  if (stat !== undefined) return parseIoStat(stat)
  const blkio = c.dirs.get('blkio')
  const v1 = blkio === undefined ? undefined : readText(join(blkio, 'blkio.throttle.io_service_bytes_recursive'))
  return v1 === undefined ? undefined : parseBlkioServiceBytes(v1)
}

/** Every figure of the unit's cgroups, read now. */
export function readCgroupStats(c: UnitCgroups): CgroupStats {
  const memoryBytes = readNumber(c.dirs.get('unified'), 'memory.current') ?? readNumber(c.dirs.get('memory'), 'memory.usage_in_bytes')
  const bytes = io(c)
  return { cpuSeconds: cpuSeconds(c), memoryBytes, tasks: tasks(c), ioReadBytes: bytes?.read, ioWriteBytes: bytes?.write }
}
