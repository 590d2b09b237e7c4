/**
 * Processes as a table of live PIDs (the Processes port in memory). A
 * process can be held (a fake pidfd): the handle follows that
 * incarnation, not the PID, so a test can reuse a PID (even with the same
 * start time, which only a pidfd can tell apart) and see the old handle
 * report the exit. Exits are announced asynchronously, as the event loop
 * would announce a readable pidfd. SIGKILL always ends a process; other
 * signals end it only when it was spawned with them in `terminatedBy`
 * (otherwise it acts as a process that handles them).
 * @module
 */

import { InvalidArgsError, NoSuchProcessError } from '../../src/protocol/errors.ts'
import type { Disposable, ProcessHandle, ProcessRef, Processes } from '../../src/core/ports.ts'

/** The start time a process gets when a test does not pick one. */
export const DEFAULT_START_TIME = 1000n

const SIGKILL = 9

export interface SignalSent {
  readonly pid: number
  readonly signal: number
}

export interface SpawnOptions {
  readonly startTime?: bigint
  readonly uid?: number
  /** Its pidfd inode number, as a kernel with pidfs gives one; none by default, as on older kernels. */
  readonly pidfdId?: number
  /** Signals besides SIGKILL that end it (a `sleep` ends on SIGTERM, SIGINT, …); none by default. */
  readonly terminatedBy?: readonly number[]
}

/** One process: what a PID names from spawn() to exit() (a PID reused is a new incarnation). */
interface Incarnation {
  readonly pid: number
  readonly startTime: bigint
  uid: number
  readonly pidfdId: number | undefined
  readonly terminatedBy: readonly number[]
  alive: boolean
  readonly exitCallbacks: Set<() => void>
}

export class FakeProcesses implements Processes {
  readonly #live = new Map<number, Incarnation>()
  /** Fake pidfds a test made with openPidfd(): fd number → the process it names. */
  readonly #fds = new Map<number, Incarnation>()
  readonly #exitListeners = new Set<(pid: number) => void>()
  #nextFd = 1000
  /** Every signal sent through signal() or a handle, in order (not those a unit's kill or stop delivers). */
  readonly signals: SignalSent[] = []
  /** Handles held and not yet disposed. */
  heldCount = 0

  /** Starts a process, replacing (and so ending) whatever ran with that PID. */
  spawn(pid: number, options: SpawnOptions = {}): ProcessRef {
    this.exit(pid)
    const startTime = options.startTime ?? DEFAULT_START_TIME
    this.#live.set(pid, {
      pid, startTime, uid: options.uid ?? 0, pidfdId: options.pidfdId, terminatedBy: options.terminatedBy ?? [],
      alive: true, exitCallbacks: new Set(),
    })
    return options.pidfdId === undefined ? { pid, startTime } : { pid, startTime, pidfdId: options.pidfdId }
  }

  /** The process running as `pid` now runs as `uid` (it exec'd a setuid program, say). */
  setUid(pid: number, uid: number): void {
    const p = this.#live.get(pid)
    if (p !== undefined) p.uid = uid
  }

  /** The process exits: listeners (the fake units) hear it at once, handles on a later turn of the event loop. */
  exit(pid: number): void {
    const p = this.#live.get(pid)
    if (p === undefined) return
    this.#live.delete(pid)
    p.alive = false
    for (const listener of [...this.#exitListeners]) listener(pid)
    const callbacks = [...p.exitCallbacks]
    p.exitCallbacks.clear()
    setImmediate(() => { for (const cb of callbacks) cb() })
  }

  isLive(pid: number): boolean {
    return this.#live.has(pid)
  }

  /** Calls `listener` with the PID of every process that exits (the kernel emptying its cgroup, for FakeUnits). */
  watchExits(listener: (pid: number) => void): Disposable {
    this.#exitListeners.add(listener)
    return { dispose: () => { this.#exitListeners.delete(listener) } }
  }

  /** A signal reaching the process now running as `pid`, sent by somebody else (a unit's kill or stop). */
  deliver(pid: number, signal: number): void {
    const p = this.#live.get(pid)
    if (p !== undefined) this.#receive(p, signal)
  }

  #receive(p: Incarnation, signal: number): void {
    if (p.alive && (signal === SIGKILL || p.terminatedBy.includes(signal))) this.exit(p.pid)
  }

  /** A pidfd for the process now running as `pid`, as a client would pass it (LeaderPIDFD). */
  openPidfd(pid: number): number {
    const p = this.#live.get(pid)
    if (p === undefined) throw new Error(`no process ${pid}`)
    const fd = this.#nextFd++
    this.#fds.set(fd, p)
    return fd
  }

  async ownerUid(ref: ProcessRef): Promise<number | undefined> {
    const p = this.#live.get(ref.pid)
    return p !== undefined && p.startTime === ref.startTime ? p.uid : undefined
  }

  async pin(pid: number): Promise<ProcessRef | undefined> {
    const p = this.#live.get(pid)
    return p === undefined ? undefined : { pid, startTime: p.startTime }
  }

  async pinPidfd(fd: number): Promise<ProcessRef | undefined> {
    const p = this.#fds.get(fd)
    if (p === undefined) throw new InvalidArgsError(`Failed to parse PIDFD ${fd}: Inappropriate ioctl for device`, { parameter: 'leader' })
    if (!p.alive) return undefined
    return refOf(p)
  }

  async holdPid(pid: number): Promise<ProcessHandle | undefined> {
    const ref = await this.pin(pid)
    return ref === undefined ? undefined : this.hold(ref)
  }

  async hold(ref: ProcessRef): Promise<ProcessHandle | undefined> {
    const p = this.#live.get(ref.pid)
    if (p === undefined || p.startTime !== ref.startTime) return undefined
    if (ref.pidfdId !== undefined && p.pidfdId !== undefined && ref.pidfdId !== p.pidfdId) return undefined
    this.heldCount++
    let disposed = false
    const mine = new Set<() => void>()
    return {
      ref: refOf(p),
      isAlive: async () => !disposed && p.alive,
      ownerUid: async () => (!disposed && p.alive ? p.uid : undefined),
      announcesExit: true,
      signal: async (signal) => {
        if (disposed || !p.alive) throw new NoSuchProcessError('No such process')
        this.signals.push({ pid: p.pid, signal })
        this.#receive(p, signal)
      },
      onExit: ((callback: (subject: unknown) => void, subject?: unknown) => {
        const call = (): void => callback(subject)
        if (!p.alive) {
          setImmediate(call)
          return { dispose: () => undefined }
        }
        p.exitCallbacks.add(call)
        mine.add(call)
        return { dispose: () => { p.exitCallbacks.delete(call) } }
      }),
      dispose: () => {
        if (disposed) return
        disposed = true
        this.heldCount--
        // No exit callback after the handle is let go of, as a closed pidfd says nothing more.
        for (const cb of mine) p.exitCallbacks.delete(cb)
      },
    }
  }

  async isAlive(ref: ProcessRef): Promise<boolean> {
    return this.#live.get(ref.pid)?.startTime === ref.startTime
  }

  async signal(ref: ProcessRef, signal: number): Promise<void> {
    const p = this.#live.get(ref.pid)
    if (p === undefined || p.startTime !== ref.startTime) throw new NoSuchProcessError('No such process')
    this.signals.push({ pid: ref.pid, signal })
    this.#receive(p, signal)
  }
}

function refOf(p: Incarnation): ProcessRef {
  return p.pidfdId === undefined ? { pid: p.pid, startTime: p.startTime } : { pid: p.pid, startTime: p.startTime, pidfdId: p.pidfdId }
}
