/**
 * In-memory implementations of the core's ports, for unit tests of the
 * Manager: processes are a table of live PIDs and start times, units record
 * every call made to them and let a test empty a unit and fire its watch,
 * state files live in a Map. Nothing here touches the host.
 * @module
 */

import { InvalidArgsError, NoSuchProcessError } from '../../protocol/errors.ts'
import { sliceCgroupPath } from '../../protocol/unit-name.ts'
import { Authorizer, type AuthorizationPolicy } from '../../core/authorization.ts'
import type { ManagerPorts } from '../../core/manager.ts'
import type {
  Address, BindMountRequest, Clock, CopyRequest, CreateScopeRequest, Disposable, HostInfo, Inspector, Log, MachineFiles, MachinePty,
  ProcessHandle, ProcessRef, Processes, ShellSpec, StateStore, Terminals, UnitRef, Units,
} from '../../core/ports.ts'

/** The start time a process gets when a test does not pick one. */
export const DEFAULT_START_TIME = 1000n

export interface SignalSent {
  readonly pid: number
  readonly signal: number
}

/** One process: what a PID names from spawn() to exit() (a PID reused is a new incarnation). */
interface Incarnation {
  readonly pid: number
  readonly startTime: bigint
  readonly uid: number
  readonly pidfdId: number | undefined
  alive: boolean
  readonly exitCallbacks: Set<() => void>
}

/**
 * Processes as a table of live PIDs. A process can be held (a fake
 * pidfd): the handle follows that incarnation, not the PID, so a test can
 * reuse a PID (even with the same start time, which only a pidfd can tell
 * apart) and see the old handle report the exit. Exits are announced
 * asynchronously, as the event loop would announce a readable pidfd.
 */
export class FakeProcesses implements Processes {
  readonly #live = new Map<number, Incarnation>()
  /** Fake pidfds a test made with openPidfd(): fd number → the process it names. */
  readonly #fds = new Map<number, Incarnation>()
  #nextFd = 1000
  /** Every signal delivered through signal() or a handle, in order. */
  readonly signals: SignalSent[] = []
  /** Handles held and not yet disposed. */
  heldCount = 0

  /**
   * Starts a process, replacing (and so ending) whatever ran with that PID.
   * `pidfdId` is its pidfd inode number, as a kernel with pidfs gives one;
   * by default there is none, as on older kernels.
   */
  spawn(pid: number, options: { startTime?: bigint; uid?: number; pidfdId?: number } = {}): ProcessRef {
    this.exit(pid)
    const startTime = options.startTime ?? DEFAULT_START_TIME
    this.#live.set(pid, { pid, startTime, uid: options.uid ?? 0, pidfdId: options.pidfdId, alive: true, exitCallbacks: new Set() })
    return options.pidfdId === undefined ? { pid, startTime } : { pid, startTime, pidfdId: options.pidfdId }
  }

  exit(pid: number): void {
    const p = this.#live.get(pid)
    if (p === undefined) return
    this.#live.delete(pid)
    p.alive = false
    const callbacks = [...p.exitCallbacks]
    p.exitCallbacks.clear()
    setImmediate(() => { for (const cb of callbacks) cb() })
  }

  isLive(pid: number): boolean {
    return this.#live.has(pid)
  }

  /** A pidfd for the process now running as `pid`, as a client would pass it (LeaderPIDFD). */
  openPidfd(pid: number): number {
    const p = this.#live.get(pid)
    if (p === undefined) throw new Error(`no process ${pid}`)
    const fd = this.#nextFd++
    this.#fds.set(fd, p)
    return fd
  }

  /** Owner of a live process. */
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
    return p.pidfdId === undefined ? { pid: p.pid, startTime: p.startTime } : { pid: p.pid, startTime: p.startTime, pidfdId: p.pidfdId }
  }

  async hold(ref: ProcessRef): Promise<ProcessHandle | undefined> {
    const p = this.#live.get(ref.pid)
    if (p === undefined || p.startTime !== ref.startTime) return undefined
    if (ref.pidfdId !== undefined && p.pidfdId !== undefined && ref.pidfdId !== p.pidfdId) return undefined
    this.heldCount++
    let disposed = false
    const held: ProcessRef = p.pidfdId === undefined ? { pid: p.pid, startTime: p.startTime } : { pid: p.pid, startTime: p.startTime, pidfdId: p.pidfdId }
    return {
      ref: held,
      isAlive: async () => !disposed && p.alive,
      signal: async (signal) => {
        if (disposed || !p.alive) throw new NoSuchProcessError('No such process')
        this.signals.push({ pid: p.pid, signal })
      },
      onExit: (callback) => {
        if (!p.alive) {
          setImmediate(callback)
          return { dispose: () => undefined }
        }
        p.exitCallbacks.add(callback)
        return { dispose: () => { p.exitCallbacks.delete(callback) } }
      },
      dispose: () => {
        if (disposed) return
        disposed = true
        this.heldCount--
      },
    }
  }

  async isAlive(ref: ProcessRef): Promise<boolean> {
    return this.#live.get(ref.pid)?.startTime === ref.startTime
  }

  async signal(ref: ProcessRef, signal: number): Promise<void> {
    if (!(await this.isAlive(ref))) throw new NoSuchProcessError('No such process')
    this.signals.push({ pid: ref.pid, signal })
  }
}

export type UnitCall =
  | { readonly op: 'createScope'; readonly request: CreateScopeRequest }
  | { readonly op: 'kill'; readonly unit: string; readonly signal: number }
  | { readonly op: 'stop'; readonly unit: string }
  | { readonly op: 'reattach'; readonly unit: string }
  | { readonly op: 'release'; readonly unit: string }

export class FakeUnits implements Units {
  readonly #processes: FakeProcesses
  readonly #unitOfPid = new Map<number, UnitRef>()
  readonly #populated = new Set<string>()
  readonly #watchers = new Map<string, Set<() => void>>()
  /** Every call that changes something, in order. */
  readonly calls: UnitCall[] = []
  /** When set, the next createScope throws this instead of creating a scope. */
  failCreateScope: Error | undefined = undefined

  /** unitOfPid needs to know which PIDs exist: a dead PID has no /proc entry. */
  constructor(processes: FakeProcesses) {
    this.#processes = processes
  }

  /** Puts a process into a unit (as a service manager would have); the unit counts as populated. */
  place(pid: number, unit: string, cgroup = `/system.slice/${unit}`): UnitRef {
    const ref = { unit, cgroup }
    this.#unitOfPid.set(pid, ref)
    this.#populated.add(unit)
    return ref
  }

  /** Marks a unit populated or empty without notifying anybody. */
  setPopulated(unit: string, populated: boolean): void {
    if (populated) this.#populated.add(unit)
    else this.#populated.delete(unit)
  }

  /** Calls every watch callback of the unit, as cgroup.events would. */
  fire(unit: string): void {
    for (const cb of [...(this.#watchers.get(unit) ?? [])]) cb()
  }

  /** The unit's last process went away: mark it empty and tell its watchers. */
  markEmpty(unit: string): void {
    this.setPopulated(unit, false)
    this.fire(unit)
  }

  watcherCount(unit: string): number {
    return this.#watchers.get(unit)?.size ?? 0
  }

  callsOf<K extends UnitCall['op']>(op: K): Extract<UnitCall, { op: K }>[] {
    return this.calls.filter((c): c is Extract<UnitCall, { op: K }> => c.op === op)
  }

  async createScope(request: CreateScopeRequest): Promise<UnitRef> {
    if (this.failCreateScope !== undefined) {
      const err = this.failCreateScope
      this.failCreateScope = undefined
      throw err
    }
    this.calls.push({ op: 'createScope', request })
    if (!this.#processes.isLive(request.leader.pid)) throw new NoSuchProcessError('No such process')
    const slice = sliceCgroupPath(request.settings.slice)
    return this.place(request.leader.pid, request.unit, `${slice === '' ? '' : `/${slice}`}/${request.unit}`)
  }

  async unitOfPid(pid: number): Promise<UnitRef | undefined> {
    if (!this.#processes.isLive(pid)) throw new NoSuchProcessError('No such process')
    return this.#unitOfPid.get(pid)
  }

  async isPopulated(ref: UnitRef): Promise<boolean> {
    return this.#populated.has(ref.unit)
  }

  async kill(ref: UnitRef, signal: number): Promise<void> {
    this.calls.push({ op: 'kill', unit: ref.unit, signal })
  }

  async stop(ref: UnitRef): Promise<void> {
    this.calls.push({ op: 'stop', unit: ref.unit })
  }

  watch(ref: UnitRef, onChange: () => void): Disposable {
    let set = this.#watchers.get(ref.unit)
    if (set === undefined) this.#watchers.set(ref.unit, (set = new Set()))
    const cb = (): void => onChange()
    set.add(cb)
    return { dispose: () => { set.delete(cb) } }
  }

  async reattach(ref: UnitRef): Promise<void> {
    this.calls.push({ op: 'reattach', unit: ref.unit })
  }

  async release(ref: UnitRef): Promise<void> {
    this.calls.push({ op: 'release', unit: ref.unit })
  }

  /** Scopes an earlier run left behind, as a test sets them up. */
  leftovers: UnitRef[] = []

  async leftoverScopes(): Promise<UnitRef[]> {
    return [...this.leftovers]
  }
}

export class FakeStateStore implements StateStore {
  /** name → contents */
  readonly files = new Map<string, string>()
  /** unit → machine name (the unit:<unit> links) */
  readonly links = new Map<string, string>()
  initialised = false
  /** When set, the next write throws this. */
  failWrite: Error | undefined = undefined

  async init(): Promise<void> {
    this.initialised = true
  }

  async write(name: string, contents: string): Promise<void> {
    if (this.failWrite !== undefined) {
      const err = this.failWrite
      this.failWrite = undefined
      throw err
    }
    this.files.set(name, contents)
  }

  async remove(name: string): Promise<void> {
    this.files.delete(name)
  }

  async linkUnit(unit: string, name: string): Promise<void> {
    this.links.set(unit, name)
  }

  async unlinkUnit(unit: string, name: string): Promise<void> {
    if (this.links.get(unit) === name) this.links.delete(unit)
  }

  async list(): Promise<{ name: string; contents: string }[]> {
    return [...this.files].map(([name, contents]) => ({ name, contents }))
  }

  async listLinks(): Promise<{ unit: string; name: string }[]> {
    return [...this.links].map(([unit, name]) => ({ unit, name }))
  }
}

export class FakeInspector implements Inspector {
  /** Canned answers; `undefined` means "none" as the port defines it. */
  addressList: Address[] | undefined = undefined
  osReleaseFields: Map<string, string> | undefined = undefined
  maps: { uidMap: string; gidMap: string } | undefined = undefined

  async addresses(): Promise<Address[] | undefined> {
    return this.addressList
  }

  async osRelease(): Promise<Map<string, string> | undefined> {
    return this.osReleaseFields
  }

  async idMaps(): Promise<{ uidMap: string; gidMap: string } | undefined> {
    return this.maps
  }
}

/** Records what was asked; `failWith` makes the next requests fail. */
export class FakeMachineFiles implements MachineFiles {
  readonly copies: CopyRequest[] = []
  readonly mounts: BindMountRequest[] = []
  readonly opened: (ProcessRef | undefined)[] = []
  failWith: Error | undefined = undefined

  async openRootDirectory(leader: ProcessRef | undefined): Promise<number> {
    if (this.failWith !== undefined) throw this.failWith
    this.opened.push(leader)
    return 100 + this.opened.length
  }

  async copy(request: CopyRequest): Promise<void> {
    if (this.failWith !== undefined) throw this.failWith
    this.copies.push(request)
  }

  async bindMount(request: BindMountRequest): Promise<void> {
    if (this.failWith !== undefined) throw this.failWith
    this.mounts.push(request)
  }
}

/** Records what was asked for; ptys are numbered from 0 and their master "fds" from 1000. */
export class FakeTerminals implements Terminals {
  readonly opened: { kind: 'pty' | 'login' | 'shell'; leader: number | undefined; spec?: ShellSpec }[] = []
  /** Thrown by the next open, once. */
  failNext: Error | undefined = undefined

  async openPty(leader: ProcessRef | undefined): Promise<MachinePty> {
    return this.#open('pty', leader)
  }

  async openLogin(leader: ProcessRef | undefined): Promise<MachinePty> {
    return this.#open('login', leader)
  }

  async openShell(leader: ProcessRef | undefined, spec: ShellSpec): Promise<MachinePty> {
    return this.#open('shell', leader, spec)
  }

  #open(kind: 'pty' | 'login' | 'shell', leader: ProcessRef | undefined, spec?: ShellSpec): MachinePty {
    const err = this.failNext
    this.failNext = undefined
    if (err !== undefined) throw err
    const n = this.opened.length
    this.opened.push({ kind, leader: leader?.pid, ...(spec === undefined ? {} : { spec }) })
    return { master: 1000 + n, path: `/dev/pts/${n}` }
  }
}

export class FakeClock implements Clock {
  realtime: bigint
  monotonic: bigint
  readonly #timers = new Set<{ callback: () => void; ms: number }>()

  constructor(realtime = 1_795_615_540_288_637n, monotonic = 186_052_458n) {
    this.realtime = realtime
    this.monotonic = monotonic
  }

  realtimeUsec(): bigint {
    return this.realtime
  }

  monotonicUsec(): bigint {
    return this.monotonic
  }

  setTimeout(callback: () => void, ms: number): Disposable {
    const timer = { callback, ms }
    this.#timers.add(timer)
    return { dispose: () => { this.#timers.delete(timer) } }
  }

  /** Runs every pending timer once, whatever its delay. */
  runTimers(): void {
    const due = [...this.#timers]
    this.#timers.clear()
    for (const t of due) t.callback()
  }
}

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error'
  readonly message: string
  readonly fields: Record<string, unknown> | undefined
}

export class FakeLog implements Log {
  readonly lines: LogLine[] = []
  debug(message: string, fields?: Record<string, unknown>): void { this.lines.push({ level: 'debug', message, fields }) }
  info(message: string, fields?: Record<string, unknown>): void { this.lines.push({ level: 'info', message, fields }) }
  warn(message: string, fields?: Record<string, unknown>): void { this.lines.push({ level: 'warn', message, fields }) }
  error(message: string, fields?: Record<string, unknown>): void { this.lines.push({ level: 'error', message, fields }) }

  messages(level?: LogLine['level']): string[] {
    return this.lines.filter((l) => level === undefined || l.level === level).map((l) => l.message)
  }
}

export const FAKE_MACHINE_ID = Uint8Array.from([0x9d, 0x8b, 0x3c, 0x2e, 0x7a, 0x11, 0x4f, 0x55, 0x86, 0x01, 0xe2, 0xc4, 0x3b, 0x0a, 0x5d, 0x77])

export interface FakePorts extends ManagerPorts {
  readonly host: HostInfo
  readonly processes: FakeProcesses
  readonly units: FakeUnits
  readonly state: FakeStateStore
  readonly inspector: FakeInspector
  readonly files: FakeMachineFiles
  readonly terminals: FakeTerminals
  readonly clock: FakeClock
  readonly log: FakeLog
  readonly authorizer: Authorizer
}

/** A full set of fake ports; PID 1 is alive and in init.scope. */
export function createFakePorts(policy: Partial<AuthorizationPolicy> = {}): FakePorts {
  const processes = new FakeProcesses()
  const init = processes.spawn(1, { startTime: 1n })
  const units = new FakeUnits(processes)
  units.place(1, 'init.scope', '/init.scope')
  return {
    host: { machineId: FAKE_MACHINE_ID, bootRealtimeUsec: 1_795_615_000_000_000n, init },
    processes,
    units,
    state: new FakeStateStore(),
    inspector: new FakeInspector(),
    files: new FakeMachineFiles(),
    terminals: new FakeTerminals(),
    clock: new FakeClock(),
    log: new FakeLog(),
    authorizer: new Authorizer({ allowUserRegistration: policy.allowUserRegistration ?? false }),
  }
}
