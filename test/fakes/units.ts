/**
 * Units in memory, over FakeProcesses: a unit holds the live processes a
 * test placed in it (or createScope moved there), empties when the last of
 * them exits and then tells its watchers on a later turn of the event
 * loop, as cgroup.events would. kill() and stop() deliver their signal to
 * every process in the unit (stop: the scope's KillSignal; there is no
 * SIGKILL after a timeout). Every call that changes something is
 * recorded, and a test may override a unit's populated state to build
 * worlds no kernel would (an empty unit whose leader still runs).
 * @module
 */

import { NoSuchProcessError } from '../../src/protocol/errors.ts'
import { sliceCgroupPath } from '../../src/protocol/unit-name.ts'
import type { CreateScopeRequest, Disposable, UnitRef, Units } from '../../src/core/ports.ts'
import type { FakeProcesses } from './processes.ts'

export type UnitCall =
  | { readonly op: 'createScope'; readonly request: CreateScopeRequest }
  | { readonly op: 'kill'; readonly unit: string; readonly signal: number }
  | { readonly op: 'stop'; readonly unit: string }
  | { readonly op: 'reattach'; readonly unit: string }
  | { readonly op: 'release'; readonly unit: string }

/** A scope this backend made: kept until released and empty. */
interface Made {
  readonly ref: UnitRef
  readonly killSignal: number
  released: boolean
}

export class FakeUnits implements Units {
  readonly #processes: FakeProcesses
  /** Where each live process lives: its unit's ref. */
  readonly #members = new Map<number, UnitRef>()
  /** Populated states a test forced. */
  readonly #forced = new Map<string, boolean>()
  readonly #watchers = new Map<string, Set<() => void>>()
  readonly #made = new Map<string, Made>()
  /** Every call that changes something, in order. */
  readonly calls: UnitCall[] = []
  /** When set, the next createScope throws this instead of creating a scope. */
  failCreateScope: Error | undefined = undefined
  /** Scopes an earlier run left behind, as a test sets them up (listed by leftoverScopes() with those made here). */
  leftovers: UnitRef[] = []

  constructor(processes: FakeProcesses) {
    this.#processes = processes
    processes.watchExits((pid) => this.#left(pid))
  }

  /** Puts a live process into a unit (as a service manager would have), at `cgroup` or below it. */
  place(pid: number, unit: string, cgroup = `/system.slice/${unit}`): UnitRef {
    const parts = cgroup.split('/')
    const at = parts.indexOf(unit)
    const ref = { unit, cgroup: at < 0 ? cgroup : parts.slice(0, at + 1).join('/') }
    if (this.#processes.isLive(pid)) this.#members.set(pid, ref)
    return ref
  }

  /** Forces a unit's populated state, whatever runs in it, without notifying anybody. */
  setPopulated(unit: string, populated: boolean): void {
    this.#forced.set(unit, populated)
  }

  /** Calls every watch callback of the unit, as cgroup.events would. */
  fire(unit: string): void {
    for (const cb of [...(this.#watchers.get(unit) ?? [])]) cb()
    this.#removeIfDone(unit)
  }

  /** The unit counts as empty from now on, and its watchers are told. */
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

  #pidsIn(unit: string): number[] {
    return [...this.#members].filter(([, ref]) => ref.unit === unit).map(([pid]) => pid)
  }

  #populated(unit: string): boolean {
    return this.#forced.get(unit) ?? this.#pidsIn(unit).length > 0
  }

  /** A process exited: the unit it lived in may be empty now. */
  #left(pid: number): void {
    const ref = this.#members.get(pid)
    if (ref === undefined) return
    this.#members.delete(pid)
    if (!this.#populated(ref.unit)) setImmediate(() => this.fire(ref.unit))
  }

  /** A released scope goes once it is empty. */
  #removeIfDone(unit: string): void {
    const made = this.#made.get(unit)
    if (made?.released === true && !this.#populated(unit)) this.#made.delete(unit)
  }

  async createScope(request: CreateScopeRequest): Promise<UnitRef> {
    if (this.failCreateScope !== undefined) {
      const err = this.failCreateScope
      this.failCreateScope = undefined
      throw err
    }
    this.calls.push({ op: 'createScope', request })
    if (!this.#processes.isLive(request.leader.pid)) throw new NoSuchProcessError(`Process ${request.leader.pid} has exited`)
    const slice = sliceCgroupPath(request.settings.slice)
    const ref = this.place(request.leader.pid, request.unit, `${slice === '' ? '' : `/${slice}`}/${request.unit}`)
    this.#forced.delete(request.unit)
    this.#made.set(request.unit, { ref, killSignal: request.settings.killSignal, released: false })
    return ref
  }

  async unitOfPid(pid: number): Promise<UnitRef | undefined> {
    if (!this.#processes.isLive(pid)) throw new NoSuchProcessError(`Failed to determine unit of process ${pid} : No such process`)
    return this.#members.get(pid)
  }

  async unitsOfPids(pids: readonly number[]): Promise<Map<number, UnitRef | undefined>> {
    const out = new Map<number, UnitRef | undefined>()
    for (const pid of pids) if (this.#processes.isLive(pid)) out.set(pid, this.#members.get(pid))
    return out
  }

  async isPopulated(ref: UnitRef): Promise<boolean> {
    return this.#populated(ref.unit)
  }

  async kill(ref: UnitRef, signal: number): Promise<void> {
    this.calls.push({ op: 'kill', unit: ref.unit, signal })
    for (const pid of this.#pidsIn(ref.unit)) this.#processes.deliver(pid, signal)
  }

  async stop(ref: UnitRef): Promise<void> {
    this.calls.push({ op: 'stop', unit: ref.unit })
    const signal = this.#made.get(ref.unit)?.killSignal ?? 15
    for (const pid of this.#pidsIn(ref.unit)) this.#processes.deliver(pid, signal)
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
    const made = this.#made.get(ref.unit)
    if (made === undefined) return
    made.released = true
    this.#removeIfDone(ref.unit)
  }

  async leftoverScopes(): Promise<UnitRef[]> {
    const made = [...this.#made.values()].map((m) => m.ref)
    return [...this.leftovers.filter((l) => !this.#made.has(l.unit)), ...made]
  }
}
