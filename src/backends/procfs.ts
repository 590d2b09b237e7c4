/**
 * Processes through /proc and pidfds: a PID is pinned together with its
 * start time, so a recycled PID never passes for the process a caller
 * named, and a pinned process is then held by a pidfd (./pidfd.ts), which
 * goes on naming it whatever happens to the PID.
 * @module
 */

import { InvalidArgsError, NoSuchProcessError } from '../protocol/errors.ts'
import type { ProcessHandle, ProcessRef, Processes } from '../core/ports.ts'
import { hasExited, readProcStat, readStatusUid } from '../linux/proc.ts'
import { FdPoller } from './fd-poller.ts'
import { openPidfd, PidfdHandle, pidfdInode, PinnedHandle, pidOfPidfd } from './pidfd.ts'

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
    const stat = readProcStat(pid, this.#procRoot)
    if (stat === undefined || hasExited(stat)) return undefined
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
      const opened = openPidfd(ref.pid, ref, this.#procRoot)
      if (opened === undefined) return undefined
      if (opened !== 'unavailable') return new PidfdHandle(opened.fd, opened.ref, this.#exits, this.#procRoot)
    }
    if (!(await this.isAlive(ref))) return undefined
    return new PinnedHandle(ref, this)
  }

  async holdPid(pid: number): Promise<ProcessHandle | undefined> {
    if (this.#pidfds) {
      // The pidfd first, then the one read of /proc/PID/stat (openPidfd() says why that pins the right process).
      const opened = openPidfd(pid, undefined, this.#procRoot)
      if (opened === undefined) return undefined
      if (opened !== 'unavailable') return new PidfdHandle(opened.fd, opened.ref, this.#exits, this.#procRoot)
    }
    const ref = await this.pin(pid)
    return ref === undefined ? undefined : new PinnedHandle(ref, this)
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
    // Read before the check, so the UID is the pinned process's if it is still alive afterwards.
    const uid = readStatusUid(ref.pid, this.#procRoot)
    return (await this.isAlive(ref)) ? uid : undefined
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
