/**
 * In-memory implementations of the core's ports, for unit tests of the
 * Manager: processes are a table of live PIDs and start times, units record
 * every call made to them and let a test empty a unit and fire its watch,
 * state files live in a Map. Nothing here touches the host.
 * @module
 */

import { NoSuchProcessError } from '../../protocol/errors.ts'
import { sliceCgroupPath } from '../../protocol/unit-name.ts'
import { Authorizer, type AuthorizationPolicy } from '../../core/authorization.ts'
import type { ManagerPorts } from '../../core/manager.ts'
import type {
  Address, Clock, CreateScopeRequest, Disposable, HostInfo, Inspector, Log, ProcessRef, Processes, StateStore, UnitRef, Units,
} from '../../core/ports.ts'

/** The start time a process gets when a test does not pick one. */
export const DEFAULT_START_TIME = 1000n

export interface SignalSent {
  readonly pid: number
  readonly signal: number
}

export class FakeProcesses implements Processes {
  readonly #live = new Map<number, bigint>()
  readonly #owners = new Map<number, number>()
  /** Every signal delivered through signal(), in order. */
  readonly signals: SignalSent[] = []

  /** Starts (or replaces) a process; returns how the core would pin it. */
  spawn(pid: number, options: { startTime?: bigint; uid?: number } = {}): ProcessRef {
    const startTime = options.startTime ?? DEFAULT_START_TIME
    this.#live.set(pid, startTime)
    this.#owners.set(pid, options.uid ?? 0)
    return { pid, startTime }
  }

  exit(pid: number): void {
    this.#live.delete(pid)
    this.#owners.delete(pid)
  }

  isLive(pid: number): boolean {
    return this.#live.has(pid)
  }

  /** Owner of a live process (not part of the port; for authorisation tests). */
  async ownerUid(ref: ProcessRef): Promise<number | undefined> {
    return this.#owners.get(ref.pid)
  }

  async pin(pid: number): Promise<ProcessRef | undefined> {
    const startTime = this.#live.get(pid)
    return startTime === undefined ? undefined : { pid, startTime }
  }

  async isAlive(ref: ProcessRef): Promise<boolean> {
    return this.#live.get(ref.pid) === ref.startTime
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
    clock: new FakeClock(),
    log: new FakeLog(),
    authorizer: new Authorizer({ allowUserRegistration: policy.allowUserRegistration ?? false }),
  }
}
