/**
 * Reading /proc/PID/stat and /proc/PID/status. procfs files are read
 * synchronously: the kernel makes them up on the spot and never blocks,
 * and a trip through libuv's thread pool costs more than the read
 * (bench/README.md).
 * @module
 */

import { readFileSync } from 'node:fs'

export interface ProcStat {
  readonly state: string
  readonly ppid: number
  readonly startTime: bigint
}

/** Parses /proc/PID/stat; the command name may hold spaces and parentheses. */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')')
  if (close < 0) return undefined
  const fields = text.slice(close + 2).split(' ')
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  const state = fields[0]
  const ppid = fields[1]
  const start = fields[19]
  if (state === undefined || ppid === undefined || start === undefined || !/^\d+$/.test(start)) return undefined
  return { state, ppid: Number(ppid), startTime: BigInt(start) }
}

export function pidIsValid(pid: number): boolean {
  return Number.isInteger(pid) && pid > 0 && pid <= 0x3fffffff
}

export function readProcStat(procRoot: string, pid: number): ProcStat | undefined {
  if (!pidIsValid(pid)) return undefined
  try {
    return parseProcStat(readFileSync(`${procRoot}/${pid}/stat`, 'latin1'))
  } catch {
    return undefined
  }
}

/**
 * The UID from /proc/PID/status ("Uid:\treal\teffective\tsaved\tfs") when
 * all four agree; undefined for a process with mixed IDs (a setuid program
 * its real user started), which the kernel lets no one but root inspect
 * either (ptrace_may_access()): it belongs to no user.
 */
export function parseStatusUid(text: string): number | undefined {
  const m = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(text)
  if (m === null || m[1] !== m[2] || m[1] !== m[3] || m[1] !== m[4]) return undefined
  return Number(m[1])
}
