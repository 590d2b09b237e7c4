/**
 * The Manager is the registry (systemd's machined.c and machined-core.c):
 * the machines by name, by unit and by leader, linking and unlinking them,
 * the places the limits allow, the count of long-running operations, the
 * garbage-collection queue and the events others subscribe to. It holds
 * the ports every per-machine function works through.
 *
 * What is done to one machine takes that Machine, as systemd's
 * machine_kill(Machine *m, …) does: register.ts, machine-control.ts
 * (kill, terminate, unregister), machine-terminals.ts, machine-files.ts,
 * machine-inspect.ts, machine-ids.ts, machine-gc.ts; startup.ts loads the
 * registry from disk. A transport finds the machine once, then calls one
 * of those. Images work the same way: image-control.ts and
 * image-inspect.ts take the image the ImagePool port found; the Manager
 * keeps what is known of their disk usage (image-usage.ts).
 * @module
 */

import { FailedError, InvalidArgsError, MachineExistsError, NoMachineForPidError, NoSuchMachineError, NoSuchProcessError } from '../protocol/errors.ts'
import type { Authorizer, Caller } from './authorization.ts'
import { Leaders } from './leaders.ts'
import { Machine } from './machine.ts'
import { collectIfGone } from './machine-gc.ts'
import { extrasOf, NO_EXTRAS, type MachineExtras } from './machine-record.ts'
import { ImageUsage } from './image-usage.ts'
import { Operations } from './operations.ts'
import type {
  Clock, Disposable, HostInfo, ImagePool, Inspector, Log, MachineFiles, ProcessHandle, Processes, StateStore, Terminals, UnitRef, Units,
} from './ports.ts'
import { DEFAULT_LIMITS, MachineQuota, type ManagerLimits } from './quota.ts'

export { DEFAULT_LIMITS, type ManagerLimits } from './quota.ts'

/**
 * What the registry tells its subscribers (the D-Bus signals, and anybody
 * in daemon/ that follows the registry): a machine linked (registered, or
 * reloaded at start-up), changed (its state), or unlinked.
 */
export interface ManagerEvents {
  machineNew?(machine: Machine): void
  machineChanged?(machine: Machine): void
  machineRemoved?(machine: Machine): void
}

export interface ManagerPorts {
  readonly host: HostInfo
  readonly processes: Processes
  readonly units: Units
  readonly state: StateStore
  readonly inspector: Inspector
  readonly files: MachineFiles
  readonly terminals: Terminals
  readonly images: ImagePool
  readonly clock: Clock
  readonly log: Log
  readonly authorizer: Authorizer
}

/** What of a machine a caller may see (Authorizer.mayInspect): the rest is the same for everybody. */
export interface MachineView {
  readonly rootDirectory: string
  readonly sshPrivateKeyPath: string | undefined
}

/** How a machine being linked got its place under the limits. */
export interface LinkOptions {
  /** The leader's pidfd, which the registry holds from now on. */
  readonly leader: ProcessHandle | undefined
  /**
   * "reserved": takePlace() took the place for this registration.
   * "forced": a machine reloaded at start-up is kept even if the limits
   * have shrunk since it was registered.
   */
  readonly place: 'reserved' | 'forced'
}

export const HOST_MACHINE_NAME = '.host'

export class Manager {
  /** The outside world; per-machine functions reach it through here. */
  readonly ports: ManagerPorts
  /** The leaders' pidfds: whether a leader lives, and signals to it. */
  readonly leaders: Leaders
  readonly host: Machine
  /** What is known of images' disk usage where their file system reports none. */
  readonly imageUsage: ImageUsage
  readonly #quota: MachineQuota
  readonly #operations: Operations
  readonly #machines = new Map<string, Machine>()
  /**
   * Machines by unit; systemd lets two registrations share one, the newest
   * answers for it. Nearly every unit has one machine: kept as it is, an
   * array only for a shared unit (no array per machine).
   */
  readonly #byUnit = new Map<string, Machine | Machine[]>()
  readonly #byLeader = new Map<number, Machine>()
  /** Names being registered right now: a second registration gets MachineExists. */
  readonly #opening = new Set<string>()
  readonly #watchers = new Map<Machine, Disposable>()
  readonly #extras = new WeakMap<Machine, MachineExtras>()
  readonly #gcRunning = new Set<Machine>()
  readonly #gcAgain = new Set<Machine>()
  readonly #listeners: ManagerEvents[] = []

  constructor(ports: ManagerPorts, limits: ManagerLimits = DEFAULT_LIMITS) {
    this.ports = ports
    this.#quota = new MachineQuota(limits)
    this.leaders = new Leaders(ports.processes, (machine) => this.#leaderExited(machine))
    this.#operations = new Operations(limits.maxOperations ?? DEFAULT_LIMITS.maxOperations)
    this.imageUsage = new ImageUsage({
      enabled: ports.images.measuresUsage,
      scan: (image) => ports.images.scanUsage(image),
      run: (work) => this.runOperation(work),
      hasRoom: () => !this.#operations.full,
      clock: ports.clock,
      log: ports.log,
    })
    // The host is always listed as ".host" (manager_add_host_machine()): it
    // cannot be registered, stopped or collected, and no PID maps to it.
    this.host = new Machine({
      name: HOST_MACHINE_NAME, id: ports.host.machineId, service: '', class: 'host', leader: ports.host.init,
      rootDirectory: '/', netifs: [], timestamp: { realtime: ports.host.bootRealtimeUsec, monotonic: 0n }, ownerUid: 0,
    })
    this.host.unit = { unit: '-.slice', cgroup: '/' }
    this.host.state = 'running'
    this.#machines.set(this.host.name, this.host)
  }

  // ── Events ──────────────────────────────────────────────────────────────

  on(listener: ManagerEvents): Disposable {
    this.#listeners.push(listener)
    return { dispose: () => { const i = this.#listeners.indexOf(listener); if (i >= 0) this.#listeners.splice(i, 1) } }
  }

  announceNew(machine: Machine): void {
    for (const l of this.#listeners) l.machineNew?.(machine)
  }

  announceChanged(machine: Machine): void {
    for (const l of this.#listeners) l.machineChanged?.(machine)
  }

  announceRemoved(machine: Machine): void {
    for (const l of this.#listeners) l.machineRemoved?.(machine)
  }

  // ── Lookup ──────────────────────────────────────────────────────────────

  /** Exact-name lookup; names are not validated here, as in systemd. */
  find(name: string): Machine | undefined {
    return this.#machines.get(name)
  }

  get(name: string): Machine {
    const m = this.#machines.get(name)
    if (m === undefined) throw new NoSuchMachineError(name)
    return m
  }

  list(): Machine[] {
    return [...this.#machines.values()]
  }

  /** Whether `machine` is the one registered under its name (not one that went, or one being registered). */
  isLinked(machine: Machine): boolean {
    return this.#machines.get(machine.name) === machine
  }

  /** Whether any registered machine lives in the unit. */
  claimsUnit(unit: string): boolean {
    return this.#byUnit.has(unit)
  }

  extras(machine: Machine): Readonly<MachineExtras> {
    return this.#extras.get(machine) ?? NO_EXTRAS
  }

  /** What the machine carries beyond systemd 252's fields (set before its state file is first written). */
  setExtras(machine: Machine, extras: MachineExtras): void {
    // Most machines carry none: no entry of their own then.
    if (extrasOf(extras) === NO_EXTRAS) {
      this.#extras.delete(machine)
      return
    }
    this.#extras.set(machine, extras)
  }

  /**
   * The fields of a machine that point into it, as `caller` may see them:
   * blank unless the caller is root or the machine's owner
   * (Authorizer.mayInspect; CVE-2016-6349). The host's root is "/" for
   * everybody.
   */
  view(machine: Machine, caller: Caller | undefined): MachineView {
    const extras = this.extras(machine)
    if (machine === this.host || this.ports.authorizer.mayInspect(caller, machine.ownerUid)) {
      return { rootDirectory: machine.rootDirectory, sshPrivateKeyPath: extras.sshPrivateKeyPath }
    }
    return { rootDirectory: '', sshPrivateKeyPath: undefined }
  }

  /**
   * manager_get_machine_by_pid(): the machine the process leads, else the
   * machine whose unit it lives in. 0 means the caller. A machine whose
   * leader has died is never an answer (its leader's pidfd says so,
   * whatever process the PID names now): the machine is on its way out.
   */
  async getByPid(pid: number, caller: Caller): Promise<Machine> {
    // A PID that is negative as pid_t is -EINVAL in systemd.
    if (!Number.isInteger(pid) || pid < 0 || pid > 0x7fffffff) throw new InvalidArgsError('Invalid argument', { parameter: 'pid' })
    const target = pid === 0 ? caller.pid : pid
    if (target === undefined) throw new FailedError('Failed to determine the PID of the caller')
    const byLeader = this.#byLeader.get(target)
    if (byLeader !== undefined && (await this.leaders.isAlive(byLeader))) return byLeader
    let ref: UnitRef | undefined
    try {
      ref = await this.ports.units.unitOfPid(target)
    } catch (err) {
      if (!(err instanceof NoSuchProcessError)) throw err
    }
    const sharing = ref === undefined ? undefined : this.#byUnit.get(ref.unit)
    const byUnit = Array.isArray(sharing) ? sharing.at(-1) : sharing
    if (byUnit !== undefined && (await this.leaders.isAlive(byUnit))) return byUnit
    throw new NoMachineForPidError(target)
  }

  /** The machine the live process `pid` leads, if any (FileExists for a second registration). */
  async liveMachineLedBy(pid: number): Promise<Machine | undefined> {
    const other = this.#byLeader.get(pid)
    return other !== undefined && (await this.leaders.isAlive(other)) ? other : undefined
  }

  // ── Operations (OPERATIONS_MAX) ─────────────────────────────────────────

  /** Long-running operations under way. */
  get operations(): number {
    return this.#operations.size
  }

  /** Whether OPERATIONS_MAX operations are under way (Varlink's copies check this before anything else). */
  get operationsFull(): boolean {
    return this.#operations.full
  }

  /** Throws TooManyOperationsError (with `message`) when no operation may start. */
  checkOperationRoom(message?: string): void {
    this.#operations.checkRoom(message)
  }

  /** Runs `work` as one operation, shared by every caller on either transport. */
  runOperation<T>(work: () => Promise<T>, message?: string): Promise<T> {
    return this.#operations.run(work, message)
  }

  // ── Linking ─────────────────────────────────────────────────────────────

  /** Takes the name for a registration before any work, so two concurrent registrations cannot both win it. */
  reserveName(name: string): void {
    if (this.#machines.has(name) || this.#opening.has(name)) throw new MachineExistsError(name)
    this.#opening.add(name)
  }

  /**
   * Takes a place under the limits for a registration by `uid`. Called
   * without an await between the check and the use, so concurrent
   * registrations cannot overshoot the limits.
   */
  takePlace(uid: number): void {
    this.#quota.reserve(uid)
  }

  /** Hands back what reserveName() and takePlace() (for `placeOf`, when it was called) took: the registration failed. */
  cancelReservation(name: string, placeOf: number | undefined): void {
    this.#opening.delete(name)
    if (placeOf !== undefined) this.#quota.release(placeOf)
  }

  /**
   * machine_link(): the machine is registered from now on. The leader's
   * exit and the unit's emptying queue a GC check (machine_start() watches
   * the pidfd); the rule stays machine_may_gc()'s. A machine stays while
   * its leader lives, so where the leader's exit is announced the unit is
   * watched only from then on: no watch is made and dropped for a machine
   * registered and unregistered while its leader runs.
   */
  link(machine: Machine, options: LinkOptions): void {
    if (options.place === 'reserved') this.#opening.delete(machine.name)
    else this.#quota.force(machine.ownerUid)
    this.#machines.set(machine.name, machine)
    const leader = options.leader
    if (leader !== undefined) this.leaders.hold(machine, leader)
    if (machine.unit !== undefined) {
      const sharing = this.#byUnit.get(machine.unit.unit)
      if (sharing === undefined) this.#byUnit.set(machine.unit.unit, machine)
      else if (Array.isArray(sharing)) sharing.push(machine)
      else this.#byUnit.set(machine.unit.unit, [sharing, machine])
      if (leader?.announcesExit !== true) this.#watchUnit(machine)
    }
    this.#byLeader.set(machine.leader.pid, machine)
  }

  #leaderExited(machine: Machine): void {
    // Watched before the check, so an emptying after it is not missed.
    this.#watchUnit(machine)
    this.queueGc(machine)
  }

  #watchUnit(machine: Machine): void {
    const unit = machine.unit
    if (unit === undefined || this.#watchers.has(machine) || !this.isLinked(machine)) return
    this.#watchers.set(machine, this.ports.units.watch(unit, () => this.queueGc(machine)))
  }

  /** The machine is registered no more; its place under the limits is free. */
  unlink(machine: Machine): void {
    this.#machines.delete(machine.name)
    this.leaders.release(machine)
    this.#quota.release(machine.ownerUid)
    if (this.#byLeader.get(machine.leader.pid) === machine) this.#byLeader.delete(machine.leader.pid)
    this.#watchers.get(machine)?.dispose()
    this.#watchers.delete(machine)
    const unit = machine.unit?.unit
    const sharing = unit === undefined ? undefined : this.#byUnit.get(unit)
    if (unit === undefined || sharing === undefined) return
    if (!Array.isArray(sharing)) {
      if (sharing === machine) this.#byUnit.delete(unit)
      return
    }
    const i = sharing.indexOf(machine)
    if (i >= 0) sharing.splice(i, 1)
    if (sharing.length === 1) this.#byUnit.set(unit, sharing[0]!)
    else if (sharing.length === 0) this.#byUnit.delete(unit)
  }

  // ── Garbage collection ──────────────────────────────────────────────────

  /**
   * Runs a GC check for the machine (machine-gc.ts). An event that comes
   * while a check is under way (the leader's pidfd firing while the
   * scope's emptying is being looked at) runs one more check after it, so
   * no event is lost.
   */
  queueGc(machine: Machine): void {
    if (this.#gcRunning.has(machine)) {
      this.#gcAgain.add(machine)
      return
    }
    this.#gcRunning.add(machine)
    collectIfGone(this, machine)
      .catch((err: unknown) => this.ports.log.warn('Machine garbage collection failed, ignoring', { machine: machine.name, error: String(err) }))
      .finally(() => {
        this.#gcRunning.delete(machine)
        if (this.#gcAgain.delete(machine)) this.queueGc(machine)
      })
  }

  /** Stops watching and lets go of the leaders' pidfds; machines and their files stay (SIGTERM keeps the registry on disk). */
  dispose(): void {
    for (const w of this.#watchers.values()) w.dispose()
    this.#watchers.clear()
    for (const machine of this.#machines.values()) this.leaders.release(machine)
  }
}
