/**
 * Processes through /proc and pidfds: a PID is pinned together with its
 * start time, so a recycled PID never passes for the process a caller
 * named, and a pinned process is then held by a pidfd (./pidfd.ts), which
 * goes on naming it whatever happens to the PID.
 * @module
 */

import { readFileSync } from 'node:fs'
import { InvalidArgsError, NoSuchProcessError } from '../protocol/errors.ts'
import type { ProcessHandle, ProcessRef, Processes } from '../core/ports.ts'
import { FdPoller } from './fd-poller.ts'
import { openPidfd, PidfdHandle, pidfdInode, PinnedHandle, pidOfPidfd } from './pidfd.ts'
import { parseStatusUid, readProcStat } from './procfs-stat.ts'

export { parseProcStat, parseStatusUid, pidIsValid, readProcStat, type ProcStat } from './procfs-stat.ts'

export class ProcfsProcesses implements Processes {
  readonly #procRoot: string
  readonly #pidfds: boolean
  /** Every held pidfd's exit, behind one epoll set. */
  readonly #exits = new FdPoller()

  /** `pidfds: false` pins by PID and start time only (a /proc that is not this kernel's, in tests). */
  constructor(options: { procRoot?: string; pidfds?: boolean } = {}) {
    this.#procRoot = options.procRoot ?? '/proc'
    this.#pidfds = options.pidfds ?? true
  }

  async pin(pid: number): Promise<ProcessRef | undefined> {
    const stat = readProcStat(this.#procRoot, pid)
    // A zombie has exited already; systemd's pidref_is_alive() says the same.
    if (stat === undefined || stat.state === 'Z' || stat.state === 'X') return undefined
    return { pid, startTime: stat.startTime }
  }

  async pinPidfd(fd: number): Promise<ProcessRef | undefined> {
    const pid = pidOfPidfd(fd, this.#procRoot)
    // pidfd_get_pid() finds no "Pid:" field in a file that is not a pidfd.
    if (pid === 'not-a-pidfd') throw new InvalidArgsError(`Failed to parse PIDFD ${fd}: Inappropriate ioctl for device`, { parameter: 'leader' })
    if (pid === undefined) return undefined
    const ref = await this.pin(pid)
    // If the fd still names a live process with that PID now, the start time read above was that process's.
    if (ref === undefined || pidOfPidfd(fd, this.#procRoot) !== pid) return undefined
    return { ...ref, pidfdId: pidfdInode(fd) }
  }

  async hold(ref: ProcessRef): Promise<ProcessHandle | undefined> {
    if (this.#pidfds) {
      const opened = openPidfd(ref, this.#procRoot)
      if (opened === undefined) return undefined
      if (opened !== 'unavailable') return new PidfdHandle(opened.fd, opened.ref, this.#exits, this.#procRoot)
    }
    if (!(await this.isAlive(ref))) return undefined
    return new PinnedHandle(ref, { isAlive: (r) => this.isAlive(r), signal: (r, s) => this.signal(r, s) })
  }

  /** Stops watching held pidfds for exits (the handles keep their fds until disposed). */
  dispose(): void {
    this.#exits.dispose()
  }

  async isAlive(ref: ProcessRef): Promise<boolean> {
    const now = await this.pin(ref.pid)
    return now !== undefined && now.startTime === ref.startTime
  }

  async ownerUid(ref: ProcessRef): Promise<number | undefined> {
    let text: string
    try {
      text = readFileSync(`${this.#procRoot}/${ref.pid}/status`, 'latin1')
    } catch {
      return undefined
    }
    return (await this.isAlive(ref)) ? parseStatusUid(text) : undefined
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
