/**
 * Processes held through pidfds (native/addon/process.c), the way newer
 * systemd holds a PidRef: the pidfd keeps naming one process after its PID
 * has been reused, becomes readable when that process exits (every
 * leader's pidfd sits in one epoll set behind one uv_poll, ./fd-poller.ts,
 * so the exit queues a GC check at once), and signals go to that
 * process only (pidfd_send_signal). Where the kernel offers no pidfd
 * (Linux < 5.3) or no fd is left, a handle falls back to the PID and the
 * start time, which is what machined-ts did before.
 * @module
 */

import { fstatSync, readFileSync } from 'node:fs'
import { NoSuchProcessError } from '../protocol/errors.ts'
import type { Disposable, ProcessHandle, ProcessRef, Processes } from '../core/ports.ts'
import { hasExited, readProcStat, readStatusOwner } from '../linux/proc.ts'
import type { FdPoller, PollTarget } from './fd-poller.ts'
import { closeFd, fdInode, pidfdHasExited, pidfdOpen, pidfdOpenOrErrno, pidfdSendSignal } from './native.ts'

const ESRCH = 3
const EINVAL = 22

const NOTHING: Disposable = { dispose: () => undefined }

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

/**
 * The PID a pidfd of ours names, from /proc/self/fdinfo ("Pid:"):
 * undefined once the process is gone (-1) or outside our PID namespace
 * (0); 'not-a-pidfd' for any other fd (the field is missing).
 */
export function pidOfPidfd(fd: number, procRoot = '/proc'): number | undefined | 'not-a-pidfd' {
  let text: string
  try {
    text = readFileSync(`${procRoot}/self/fdinfo/${fd}`, 'latin1')
  } catch {
    return 'not-a-pidfd'
  }
  const m = /^Pid:\s*(-?\d+)$/m.exec(text)
  if (m === null) return 'not-a-pidfd'
  const pid = Number(m[1])
  return pid > 0 ? pid : undefined
}

/** Whether this kernel gives pidfds at all (pidfd_open(2), Linux 5.3+). */
export function pidfdsAvailable(): boolean {
  try {
    closeFd(pidfdOpen(process.pid))
    return true
  } catch {
    return false
  }
}

let pidfs: boolean | undefined

/**
 * Whether pidfds live on pidfs (Linux 6.9+), where a pidfd's inode number
 * is unique to its process for the whole boot. Before that every pidfd
 * shares one anonymous inode: two different processes tell the two apart.
 */
export function pidfsAvailable(): boolean {
  if (pidfs === undefined) {
    const inode = (pid: number): bigint | undefined => {
      try {
        const fd = pidfdOpen(pid)
        try {
          return fstatSync(fd, { bigint: true }).ino
        } finally {
          closeFd(fd)
        }
      } catch {
        return undefined
      }
    }
    const self = inode(process.pid)
    const init = inode(1)
    pidfs = self !== undefined && init !== undefined && self !== init
  }
  return pidfs
}

/** The inode number of a pidfd, where it identifies the process (pidfs); else undefined. */
export function pidfdInode(fd: number): number | undefined {
  if (!pidfsAvailable()) return undefined
  const ino = fdInode(fd)
  return ino >= 0 && ino <= Number.MAX_SAFE_INTEGER ? ino : undefined
}

/** Whether the process behind our pidfd has not been reaped yet (signal 0 through it); a zombie has not. */
function unreaped(fd: number): boolean {
  try {
    pidfdSendSignal(fd, 0)
    return true
  } catch (err) {
    if (errnoOf(err) === 'ESRCH') return false
    throw err
  }
}

/**
 * Opens a pidfd for `pid` and pins the process it names: its start time
 * from /proc/PID/stat, read once with the pidfd open. The pidfd names the
 * process that had the PID when it was opened; if that process is still
 * unreaped after the read, the PID named it all along, so the read was
 * its own. `expected` (a pinned process) must match: start time, and the
 * inode number where it carries one. undefined when there is no such live
 * process; 'unavailable' when the kernel cannot give a pidfd (ENOSYS, or
 * no fd left).
 */
export function openPidfd(pid: number, expected?: ProcessRef, procRoot = '/proc'): { fd: number; ref: ProcessRef } | undefined | 'unavailable' {
  const fd = pidfdOpenOrErrno(pid)
  if (fd === -ESRCH || fd === -EINVAL) return undefined
  if (fd < 0) return 'unavailable'
  let keep = false
  try {
    // A pidfd inode number names one process for the whole boot: where the pinned process's matches, the pidfd
    // is that process, and the kernel says without /proc whether it has exited (a restart adopting 10,000 leaders
    // reads no /proc/PID/stat).
    if (expected?.pidfdId !== undefined) {
      const pidfdId = pidfdInode(fd)
      if (pidfdId !== undefined) {
        if (pidfdId !== expected.pidfdId || pidfdHasExited(fd)) return undefined
        keep = true
        return { fd, ref: { pid, startTime: expected.startTime, pidfdId } }
      }
    }
    const stat = readProcStat(pid, procRoot)
    if (stat === undefined || hasExited(stat)) return undefined
    if (expected !== undefined && stat.startTime !== expected.startTime) return undefined
    // With a pinned process to compare against, the start time already says the read was its.
    if (expected === undefined && !unreaped(fd)) return undefined
    const pidfdId = pidfdInode(fd)
    if (expected?.pidfdId !== undefined && pidfdId !== undefined && pidfdId !== expected.pidfdId) return undefined
    keep = true
    return { fd, ref: { pid, startTime: stat.startTime, pidfdId } }
  } finally {
    if (!keep) closeFd(fd)
  }
}

type ExitCallback = (subject: unknown) => void

/** One more exit callback, beside the first (kept in the handle's own fields). */
interface ExitListener {
  readonly callback: ExitCallback
  readonly subject: unknown
}

/**
 * A process held by a pidfd we own. With 10,000 leaders held, what one
 * costs counts: the handle is its own entry in the poller (no Registration
 * object), and its exit callback is kept with its subject (the registry's
 * one callback and the machine, no closure per machine).
 */
export class PidfdHandle implements ProcessHandle, PollTarget {
  readonly ref: ProcessRef
  readonly #procRoot: string
  readonly #poller: FdPoller
  #fd: number | undefined
  /** The pidfd's token in the poller; 0 while it is not in it (exited, disposed, or it could not join). */
  #token = 0
  #exited = false
  /** Usually one callback (the machine's GC check) and its subject; an array of listeners only for more. */
  #onExit: ExitCallback | ExitListener[] | undefined = undefined
  #subject: unknown = undefined

  /**
   * The exit is watched through `poller`, shared by all handles. If the
   * pidfd cannot join it (no fd or memory for the epoll set), the exit goes
   * unannounced and the manager's periodic sweep finds it instead.
   */
  constructor(fd: number, ref: ProcessRef, poller: FdPoller, procRoot = '/proc') {
    this.ref = ref
    this.#procRoot = procRoot
    this.#poller = poller
    this.#fd = fd
    try {
      this.#token = poller.addOnce(this)
    } catch {
      this.#token = 0
    }
  }

  /** The fd the poller watches (PollTarget). */
  get pollFd(): number {
    return this.#fd ?? -1
  }

  /** The FdPoller's call: the pidfd is readable, so the process has exited. */
  pollReady(): void {
    this.#exited = true
    this.#token = 0
    const callbacks = this.#onExit
    const subject = this.#subject
    this.#onExit = undefined
    this.#subject = undefined
    if (typeof callbacks === 'function') callbacks(subject)
    else for (const l of callbacks ?? []) l.callback(l.subject)
  }

  async isAlive(): Promise<boolean> {
    const fd = this.#fd
    // Signal 0 through the pidfd: ESRCH once the process has been reaped, whoever has its PID now.
    if (this.#exited || fd === undefined || !unreaped(fd)) return false
    // Still ours (not reaped), so /proc/PID is this process: a zombie has exited all the same.
    const stat = readProcStat(this.ref.pid, this.#procRoot)
    return stat !== undefined && !hasExited(stat) && stat.startTime === this.ref.startTime
  }

  async ownerUid(): Promise<number | undefined> {
    const fd = this.#fd
    if (this.#exited || fd === undefined) return undefined
    const owner = readStatusOwner(this.ref.pid, this.#procRoot)
    // Unreaped after the read: /proc/PID was this process's.
    if (owner === undefined || owner.exited || !unreaped(fd)) return undefined
    return owner.uid
  }

  async signal(signal: number): Promise<void> {
    const fd = this.#fd
    // Messages are strerror(ESRCH), which is what systemd answers.
    if (fd === undefined) throw new NoSuchProcessError('No such process')
    try {
      pidfdSendSignal(fd, signal)
    } catch (err) {
      if (errnoOf(err) === 'ESRCH') throw new NoSuchProcessError('No such process')
      throw err
    }
  }

  get announcesExit(): boolean {
    return this.#exited || this.#token !== 0
  }

  onExit(callback: () => void): Disposable
  onExit<T>(callback: (subject: T) => void, subject: T): Disposable
  onExit(callback: (subject: never) => void, subject?: unknown): Disposable {
    const cb = callback as ExitCallback
    if (this.#fd === undefined) return NOTHING
    if (this.#exited) {
      setImmediate(cb, subject)
      return NOTHING
    }
    const now = this.#onExit
    if (now === undefined) {
      this.#onExit = cb
      this.#subject = subject
    } else {
      const more = typeof now === 'function' ? [{ callback: now, subject: this.#subject }] : now
      this.#onExit = [...more, { callback: cb, subject }]
      this.#subject = undefined
    }
    return { dispose: () => this.#forget(cb, subject) }
  }

  /** Drops one onExit() callback (the first registered with that subject). */
  #forget(callback: ExitCallback, subject: unknown): void {
    const now = this.#onExit
    if (now === callback && this.#subject === subject) {
      this.#onExit = undefined
      this.#subject = undefined
    } else if (Array.isArray(now)) {
      const i = now.findIndex((l) => l.callback === callback && l.subject === subject)
      if (i >= 0) this.#onExit = now.filter((_, j) => j !== i)
    }
  }

  dispose(): void {
    const fd = this.#fd
    if (fd === undefined) return
    this.#onExit = undefined
    this.#subject = undefined
    // Out of the epoll set before the fd is closed, so the set never sees a reused fd number.
    if (this.#token !== 0) this.#poller.remove(this.#token)
    this.#token = 0
    this.#fd = undefined
    closeFd(fd)
  }
}

/**
 * Without a pidfd: the PID and start time, checked on every question
 * (a reuse within the same clock tick would go unnoticed). The exit is
 * never announced; the scope's emptying still queues the GC check.
 */
export class PinnedHandle implements ProcessHandle {
  readonly ref: ProcessRef
  readonly #processes: Pick<Processes, 'isAlive' | 'signal' | 'ownerUid'>

  constructor(ref: ProcessRef, processes: Pick<Processes, 'isAlive' | 'signal' | 'ownerUid'>) {
    this.ref = ref
    this.#processes = processes
  }

  isAlive(): Promise<boolean> {
    return this.#processes.isAlive(this.ref)
  }

  signal(signal: number): Promise<void> {
    return this.#processes.signal(this.ref, signal)
  }

  ownerUid(): Promise<number | undefined> {
    return this.#processes.ownerUid(this.ref)
  }

  readonly announcesExit = false

  onExit(): Disposable {
    return NOTHING
  }

  dispose(): void {
    // Nothing is held.
  }
}
