/**
 * Reading processes from /proc: stat (state, parent, start time, name),
 * status (user IDs), cmdline and cgroup, each file read once per question.
 * procfs files are read synchronously: the kernel makes them up on the
 * spot and never blocks, and a trip through libuv's thread pool costs more
 * than the read (bench/README.md). Every reader answers undefined for a
 * process that is gone; `procRoot` lets tests read a /proc of their own.
 * @module
 */

import { closeSync, openSync, readFileSync, readSync } from 'node:fs'
import { readSmallFiles } from '../native/small-files.ts'

export interface ProcStat {
  /** One letter: R, S, D, Z (zombie), X (dead), … */
  readonly state: string
  readonly ppid: number
  /** Clock ticks after boot: with the PID, it names one process for the whole boot. */
  readonly startTime: bigint
  /** The name the kernel keeps (TASK_COMM_LEN, 15 bytes), as /proc/PID/comm shows it. */
  readonly comm: string
}

/** Whether a number can be a PID (pid_is_valid(); PID_MAX_LIMIT is 2^22, the field 2^30). */
export function pidIsValid(pid: number): boolean {
  return Number.isInteger(pid) && pid > 0 && pid <= 0x3fffffff
}

/**
 * Parses /proc/PID/stat; the name in parentheses may itself hold spaces
 * and parentheses. Only fields 3, 4 and 22 are wanted: found by counting
 * spaces, not by splitting all 52 (this runs on every registration).
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  if (open < 0 || close < open) return undefined
  // Field N (N ≥ 3) starts after the (N - 2)th space from the ")".
  const fieldAt = (from: number, skip: number): number => {
    let at = from
    for (let i = 0; i < skip && at >= 0; i++) at = text.indexOf(' ', at + 1)
    return at < 0 ? -1 : at + 1
  }
  const stateAt = fieldAt(close, 1)
  const ppidAt = fieldAt(stateAt - 1, 1)
  const startAt = fieldAt(ppidAt - 1, 18)
  if (stateAt <= 0 || ppidAt <= 0 || startAt <= 0) return undefined
  const field = (at: number): string => {
    const end = text.indexOf(' ', at)
    return text.slice(at, end < 0 ? text.length : end).trimEnd()
  }
  const state = field(stateAt)
  const start = field(startAt)
  if (state === '' || !/^\d+$/.test(start)) return undefined
  return { state, ppid: Number(field(ppidAt)), startTime: BigInt(start), comm: text.slice(open + 1, close) }
}

/** One file of /proc/PID (or /proc/self); undefined when the process is gone or the PID cannot be one. */
function readProcFile(pid: number | 'self', file: string, procRoot: string): Buffer | undefined {
  if (pid !== 'self' && !pidIsValid(pid)) return undefined
  try {
    return readFileSync(`${procRoot}/${pid}/${file}`)
  } catch {
    return undefined
  }
}

/** Big enough for stat, status and cgroup in one read(2); a longer file takes more reads. */
let scratch = Buffer.allocUnsafe(16384)

/**
 * A small /proc file as text: open, one read(2) into a buffer kept for
 * the purpose, close. A /proc file is made up whole by the kernel when
 * it is read (seq_file), so a read that leaves room in the buffer has it
 * all; readFileSync() would fstat() it (size 0) and read again to see the
 * end, and allocate on each call, several times on every registration.
 */
function readProcText(pid: number, file: string, procRoot: string, encoding: 'utf8' | 'latin1'): string | undefined {
  if (!pidIsValid(pid)) return undefined
  let fd: number
  try {
    fd = openSync(`${procRoot}/${pid}/${file}`, 'r')
  } catch {
    return undefined
  }
  try {
    let length = 0
    for (;;) {
      const n = readSync(fd, scratch, length, scratch.length - length, null)
      length += n
      if (n === 0 || length < scratch.length) break
      const bigger = Buffer.allocUnsafe(scratch.length * 2)
      scratch.copy(bigger, 0, 0, length)
      scratch = bigger
    }
    return scratch.toString(encoding, 0, length)
  } catch {
    // ESRCH: the process went between open and read.
    return undefined
  } finally {
    closeSync(fd)
  }
}

export function readProcStat(pid: number, procRoot = '/proc'): ProcStat | undefined {
  const text = readProcText(pid, 'stat', procRoot, 'utf8')
  return text === undefined ? undefined : parseProcStat(text)
}

/** A zombie or a dead task has exited, whoever has yet to reap it (systemd's pidref_is_alive() says the same). */
export function hasExited(stat: ProcStat): boolean {
  return stat.state === 'Z' || stat.state === 'X'
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

export function readStatusUid(pid: number, procRoot = '/proc'): number | undefined {
  const text = readProcText(pid, 'status', procRoot, 'latin1')
  return text === undefined ? undefined : parseStatusUid(text)
}

/**
 * The UID as readStatusUid() has it, and whether the process has exited
 * (a zombie, from the same file's "State:" line): what a held process is
 * asked for (ProcessHandle.ownerUid) in one read.
 */
export function readStatusOwner(pid: number, procRoot = '/proc'): { uid: number | undefined; exited: boolean } | undefined {
  const text = readProcText(pid, 'status', procRoot, 'latin1')
  if (text === undefined) return undefined
  const state = /^State:\s+(\S)/m.exec(text)?.[1]
  return { uid: parseStatusUid(text), exited: state === 'Z' || state === 'X' }
}

/** /proc/PID/cgroup as it is (parse it with ./cgroup-paths.ts). */
export function readProcCgroup(pid: number | 'self', procRoot = '/proc'): string | undefined {
  if (pid === 'self') return readProcFile(pid, 'cgroup', procRoot)?.toString('utf8')
  return readProcText(pid, 'cgroup', procRoot, 'utf8')
}

/**
 * /proc/PID/uid_map and gid_map, or undefined once the process is gone.
 * Read here, on the JavaScript thread, as /proc/PID/stat is: the kernel
 * makes them up when read and never blocks, and a trip to the thread pool
 * for each cost more than the read (a List with metadata reads them for
 * every machine).
 */
export function readIdMaps(pid: number, procRoot = '/proc'): { uidMap: string; gidMap: string } | undefined {
  const uidMap = readProcText(pid, 'uid_map', procRoot, 'latin1')
  const gidMap = uidMap === undefined ? undefined : readProcText(pid, 'gid_map', procRoot, 'latin1')
  return uidMap === undefined || gidMap === undefined ? undefined : { uidMap, gidMap }
}

/** /proc/PID/cgroup is a line per hierarchy: a few hundred bytes on a hybrid host. */
const PROC_CGROUP_MAX = 64 * 1024

/**
 * readProcCgroup() for many processes, read in one piece of work off the
 * JavaScript thread; a PID that is not valid, whose process is gone, or
 * whose file is longer than any host writes, is left out.
 */
export async function readProcCgroups(pids: readonly number[], procRoot = '/proc'): Promise<Map<number, string>> {
  const valid = pids.filter(pidIsValid)
  const texts = await readSmallFiles(valid.map((pid) => `${procRoot}/${pid}/cgroup`), PROC_CGROUP_MAX)
  const out = new Map<number, string>()
  valid.forEach((pid, i) => {
    const text = texts[i]
    if (typeof text === 'string') out.set(pid, text)
  })
  return out
}

/** This boot's ID, 32 lower-case hex digits (sd_id128_get_boot()). */
export function readBootId(procRoot = '/proc'): string {
  return readFileSync(`${procRoot}/sys/kernel/random/boot_id`, 'utf8').trim().replace(/-/g, '').toLowerCase()
}

/** Control bytes as C escapes (cescape_char()), so a name cannot break a line. */
function escapeControls(s: string): string {
  const named: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' }
  // eslint-disable-next-line no-control-regex -- the control characters are what it escapes
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => named[c] ?? `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`)
}

/** The process's name for display (get_process_comm(), control bytes escaped). */
export function processComm(pid: number, procRoot = '/proc'): string | undefined {
  const comm = readProcStat(pid, procRoot)?.comm
  return comm === undefined ? undefined : escapeControls(comm)
}

/**
 * The command line for display, arguments joined by spaces, or "[comm]"
 * for a kernel thread or a zombie (get_process_cmdline() with
 * PROCESS_CMDLINE_COMM_FALLBACK, as systemd's GetUnitProcesses() reports it).
 */
export function processCmdline(pid: number, procRoot = '/proc'): string | undefined {
  const raw = readProcFile(pid, 'cmdline', procRoot)
  if (raw === undefined) return undefined
  const text = raw.toString('utf8').replace(/\0/g, ' ').replace(/[ \t\n\r]+$/, '')
  if (text === '') {
    const comm = processComm(pid, procRoot)
    return comm === undefined ? undefined : `[${comm}]`
  }
  // eslint-disable-next-line no-control-regex -- the control characters are what it escapes
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

/** kill(2) that treats a process already gone as done: false then. */
export function signalQuietly(pid: number, signal: number): boolean {
  try {
    process.kill(pid, signal)
    return true
  } catch {
    return false
  }
}
