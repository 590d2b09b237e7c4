/**
 * Processes through /proc: a PID is pinned together with its start time so
 * that a recycled PID never passes for the process a caller named.
 * @module
 */

import { readFile } from 'node:fs/promises'
import { NoSuchProcessError } from '../protocol/errors.ts'
import type { ProcessRef, Processes } from '../core/ports.ts'

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

export async function readProcStat(procRoot: string, pid: number): Promise<ProcStat | undefined> {
  if (!pidIsValid(pid)) return undefined
  try {
    return parseProcStat(await readFile(`${procRoot}/${pid}/stat`, 'utf8'))
  } catch {
    return undefined
  }
}

export class ProcfsProcesses implements Processes {
  readonly #procRoot: string

  constructor(options: { procRoot?: string } = {}) {
    this.#procRoot = options.procRoot ?? '/proc'
  }

  async pin(pid: number): Promise<ProcessRef | undefined> {
    const stat = await readProcStat(this.#procRoot, pid)
    // A zombie has exited already; systemd's pidref_is_alive() says the same.
    if (stat === undefined || stat.state === 'Z' || stat.state === 'X') return undefined
    return { pid, startTime: stat.startTime }
  }

  async isAlive(ref: ProcessRef): Promise<boolean> {
    const now = await this.pin(ref.pid)
    return now !== undefined && now.startTime === ref.startTime
  }

  async signal(ref: ProcessRef, signal: number): Promise<void> {
    // Messages are strerror(ESRCH), which is what systemd answers.
    if (!(await this.isAlive(ref))) throw new NoSuchProcessError('No such process')
    try {
      process.kill(ref.pid, signal)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') throw new NoSuchProcessError('No such process')
      throw err
    }
  }
}
