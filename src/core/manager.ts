/**
 * The Manager (systemd's machined-core.c and the transport-neutral half of
 * machined-dbus.c): registers, finds, stops and forgets machines, keeps
 * state files in step, and collects machines whose processes are gone.
 * Transports decode their wire format into the requests below and map the
 * typed errors thrown here to their own error names.
 * @module
 */

import {
  FailedError, FileExistsError, InvalidArgsError, LimitsExceededError, MachineExistsError, MachinedError,
  NoMachineForPidError, NoOsReleaseInformationError, NoPrivateNetworkingError, NoSuchMachineError, NoSuchProcessError,
  NotSupportedError,
} from '../protocol/errors.ts'
import { machineNameIsValid } from '../protocol/hostname.ts'
import { machineScopeName } from '../protocol/unit-name.ts'
import { killWhomFromString, machineClassFromString, signalIsValid, type KillWhom, type MachineClass } from '../protocol/vocabulary.ts'
import { ACTIONS, type Authorizer, type Caller } from './authorization.ts'
import { idFromString, Machine, NULL_ID } from './machine.ts'
import { mapFromInside, mapToInside, parseIdMap, uidShiftFromMaps } from './id-map.ts'
import type { Address, Clock, Disposable, HostInfo, Inspector, Log, Processes, ProcessRef, StateStore, UnitRef, Units } from './ports.ts'
import { parseScopeProperties, type ScopeProperty, type ScopeSettings } from './scope-properties.ts'
import { formatMachineState, parseMachineState } from './state-file.ts'

export interface RegisterRequest {
  readonly name: string
  readonly id: Uint8Array
  readonly service: string
  readonly class: string
  /** 0 means the caller itself, as systemd reads it from the bus credentials. */
  readonly leader: number
  readonly rootDirectory: string
  /** undefined when the method has no ifindices argument. */
  readonly netifs: readonly number[] | undefined
  readonly vsockCid?: number | undefined
  readonly sshAddress?: string | undefined
  readonly sshPrivateKeyPath?: string | undefined
  /** Create* (machined makes the scope) rather than Register* (the leader's unit is adopted). */
  readonly allocateUnit: boolean
  readonly scopeProperties: readonly ScopeProperty[]
}

export interface ManagerEvents {
  machineNew?(machine: Machine): void
  machineRemoved?(machine: Machine): void
}

export interface ManagerLimits {
  /** Registered machines in all. */
  readonly maxMachines: number
}

export interface ManagerPorts {
  readonly host: HostInfo
  readonly processes: Processes
  readonly units: Units
  readonly state: StateStore
  readonly inspector: Inspector
  readonly clock: Clock
  readonly log: Log
  readonly authorizer: Authorizer
}

export const DEFAULT_LIMITS: ManagerLimits = { maxMachines: 65536 }

/** Extra fields a machine carries beyond systemd 252's state file. */
interface MachineExtras {
  vsockCid: number | undefined
  sshAddress: string | undefined
  sshPrivateKeyPath: string | undefined
}

export const HOST_MACHINE_NAME = '.host'

export class Manager {
  readonly #ports: ManagerPorts
  readonly #limits: ManagerLimits
  readonly #machines = new Map<string, Machine>()
  /** Machines by unit; systemd lets two registrations share one, the newest answers for it. */
  readonly #byUnit = new Map<string, Machine[]>()
  readonly #byLeader = new Map<number, Machine>()
  /** Names being registered right now: a second registration gets MachineExists. */
  readonly #opening = new Set<string>()
  readonly #watchers = new Map<Machine, Disposable>()
  readonly #extras = new WeakMap<Machine, MachineExtras>()
  readonly #gcRunning = new Set<Machine>()
  readonly #listeners: ManagerEvents[] = []
  readonly host: Machine

  constructor(ports: ManagerPorts, limits: ManagerLimits = DEFAULT_LIMITS) {
    this.#ports = ports
    this.#limits = limits
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

  on(listener: ManagerEvents): Disposable {
    this.#listeners.push(listener)
    return { dispose: () => { const i = this.#listeners.indexOf(listener); if (i >= 0) this.#listeners.splice(i, 1) } }
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

  extras(machine: Machine): Readonly<MachineExtras> {
    return this.#extras.get(machine) ?? { vsockCid: undefined, sshAddress: undefined, sshPrivateKeyPath: undefined }
  }

  /**
   * manager_get_machine_by_pid(): the machine the process leads, else the
   * machine whose unit it lives in. 0 means the caller. A leader that has
   * died is never an answer, whatever process its PID now names.
   */
  async getByPid(pid: number, caller: Caller): Promise<Machine> {
    // A PID that is negative as pid_t is -EINVAL in systemd.
    if (!Number.isInteger(pid) || pid < 0 || pid > 0x7fffffff) throw new InvalidArgsError('Invalid argument', { parameter: 'pid' })
    const target = pid === 0 ? caller.pid : pid
    if (target === undefined) throw new FailedError('Failed to determine the PID of the caller')
    const byLeader = this.#byLeader.get(target)
    if (byLeader !== undefined && (await this.#ports.processes.isAlive(byLeader.leader))) return byLeader
    let ref: UnitRef | undefined
    try {
      ref = await this.#ports.units.unitOfPid(target)
    } catch (err) {
      if (!(err instanceof NoSuchProcessError)) throw err
    }
    const byUnit = ref === undefined ? undefined : this.#byUnit.get(ref.unit)?.at(-1)
    if (byUnit !== undefined) return byUnit
    throw new NoMachineForPidError(target)
  }

  // ── Registration ────────────────────────────────────────────────────────

  /**
   * CreateMachine*, RegisterMachine* and Varlink Register. Checks come in
   * systemd's order so the first complaint matches. Nothing is left behind
   * when any step fails.
   */
  async register(request: RegisterRequest, caller: Caller): Promise<Machine> {
    const { name } = request
    if (!machineNameIsValid(name)) throw new InvalidArgsError('Invalid machine name', { parameter: 'name' })
    let id: Uint8Array
    if (request.id.length === 0) id = NULL_ID
    else if (request.id.length === 16) id = request.id
    else throw new InvalidArgsError('Invalid machine ID parameter', { parameter: 'id' })
    for (const ifindex of request.netifs ?? []) {
      if (!Number.isInteger(ifindex) || ifindex <= 0) {
        throw new InvalidArgsError(`Invalid network interface index ${ifindex}`, { parameter: 'ifIndices' })
      }
    }
    // "" passes here and fails once the machine would start; Debian's 252 refuses "host" right here.
    const cls: MachineClass | undefined = request.class === '' ? undefined : machineClassFromString(request.class)
    if (request.class !== '' && (cls === undefined || cls === 'host')) {
      throw new InvalidArgsError('Invalid machine class parameter', { parameter: 'class' })
    }
    if (request.leader === 1) throw new InvalidArgsError('Invalid leader PID', { parameter: 'leader' })
    if (request.rootDirectory !== '' && !request.rootDirectory.startsWith('/')) {
      throw new InvalidArgsError('Root directory must be empty or an absolute path', { parameter: 'rootDirectory' })
    }
    const leaderPid = request.leader === 0 ? caller.pid : request.leader
    if (leaderPid === undefined) throw new FailedError('Failed to determine the PID of the caller')

    await this.#collectIfDead(name)
    if (this.#machines.has(name) || this.#opening.has(name)) throw new MachineExistsError(name)
    if (this.#machines.size - 1 + this.#opening.size >= this.#limits.maxMachines) {
      throw new LimitsExceededError(`Too many machines registered (${this.#limits.maxMachines})`)
    }

    this.#opening.add(name)
    let machine: Machine | undefined
    try {
      const leader = await this.#ports.processes.pin(leaderPid)
      if (leader === undefined) throw leaderUnknown(leaderPid)
      // Root may register anything; others only leaders they own, where that is allowed.
      this.#ports.authorizer.check(caller, ACTIONS.createMachine, await this.#ports.processes.ownerUid(leader))
      // machine_start() refuses anything but containers and VMs.
      if (cls !== 'container' && cls !== 'vm') throw new NotSupportedError('Operation not supported')
      // Scope properties are applied when the machine starts, after the checks above (machine_start()).
      const settings = request.allocateUnit ? parseScopeProperties(request.scopeProperties) : undefined
      const other = this.#byLeader.get(leader.pid)
      if (other !== undefined && (await this.#ports.processes.isAlive(other.leader))) throw new FileExistsError()
      machine = new Machine({
        name, id, service: request.service, class: cls, leader,
        rootDirectory: request.rootDirectory, netifs: [...(request.netifs ?? [])],
        timestamp: { realtime: this.#ports.clock.realtimeUsec(), monotonic: this.#ports.clock.monotonicUsec() },
        ownerUid: caller.uid,
      })
      this.#extras.set(machine, {
        vsockCid: request.vsockCid, sshAddress: request.sshAddress, sshPrivateKeyPath: request.sshPrivateKeyPath,
      })
      await this.#attachUnit(machine, settings)
      await this.#save(machine)
      machine.state = 'running'
    } catch (err) {
      if (machine !== undefined) await this.#removeTraces(machine, 'clean up after a failed registration')
      throw err
    } finally {
      this.#opening.delete(name)
    }
    this.#link(machine)
    this.#ports.log.info('New machine', { machine: name, unit: machine.unit?.unit, leader: machine.leader.pid })
    for (const l of this.#listeners) l.machineNew?.(machine)
    return machine
  }

  /**
   * Create* always makes a scope. Register* adopts the unit the leader
   * already lives in; where it lives in none (usual without systemd as PID
   * 1) we make the scope as Create* would, so the machine's processes are
   * still attributed to it. systemd would answer ENXIO instead.
   */
  async #attachUnit(machine: Machine, settings: ScopeSettings | undefined): Promise<void> {
    const { units } = this.#ports
    if (settings === undefined) {
      let current: UnitRef | undefined
      try {
        current = await units.unitOfPid(machine.leader.pid)
      } catch (err) {
        if (err instanceof NoSuchProcessError) throw leaderUnknown(machine.leader.pid)
        throw err
      }
      if (current !== undefined) {
        machine.unit = current
        machine.ownsUnit = false
        return
      }
      settings = parseScopeProperties([])
    }
    const description = `${machine.class === 'vm' ? 'Virtual Machine' : 'Container'} ${machine.name}`
    try {
      machine.unit = await units.createScope({ unit: machineScopeName(machine.name), description, leader: machine.leader, settings })
    } catch (err) {
      if (err instanceof NoSuchProcessError) throw leaderUnknown(machine.leader.pid)
      throw err
    }
    machine.ownsUnit = true
  }

  /** Removes what a machine left on disk and lets go of a scope we made; never throws. */
  async #removeTraces(machine: Machine, what: string): Promise<void> {
    const { state, units, log } = this.#ports
    try {
      await state.remove(machine.name)
      if (machine.unit !== undefined) {
        await state.unlinkUnit(machine.unit.unit, machine.name)
        if (machine.ownsUnit) await units.release(machine.unit)
      }
    } catch (err) {
      log.warn(`Failed to ${what}, ignoring`, { machine: machine.name, error: String(err) })
    }
  }

  #link(machine: Machine): void {
    this.#machines.set(machine.name, machine)
    if (machine.unit !== undefined) {
      const sharing = this.#byUnit.get(machine.unit.unit)
      if (sharing === undefined) this.#byUnit.set(machine.unit.unit, [machine])
      else sharing.push(machine)
      this.#watchers.set(machine, this.#ports.units.watch(machine.unit, () => this.#queueGc(machine)))
    }
    this.#byLeader.set(machine.leader.pid, machine)
  }

  #unlink(machine: Machine): void {
    this.#machines.delete(machine.name)
    if (this.#byLeader.get(machine.leader.pid) === machine) this.#byLeader.delete(machine.leader.pid)
    this.#watchers.get(machine)?.dispose()
    this.#watchers.delete(machine)
    const unit = machine.unit?.unit
    const sharing = unit === undefined ? undefined : this.#byUnit.get(unit)
    if (unit === undefined || sharing === undefined) return
    const i = sharing.indexOf(machine)
    if (i >= 0) sharing.splice(i, 1)
    if (sharing.length === 0) this.#byUnit.delete(unit)
  }

  async #save(machine: Machine): Promise<void> {
    const extras = this.extras(machine)
    const { state } = this.#ports
    await state.write(machine.name, formatMachineState({
      name: machine.name,
      unit: machine.unit?.unit,
      service: machine.service,
      rootDirectory: machine.rootDirectory,
      id: machine.idString === '' ? undefined : machine.idString,
      leader: machine.leader.pid,
      class: machine.class,
      realtime: machine.timestamp.realtime,
      monotonic: machine.timestamp.monotonic,
      netifs: [...machine.netifs],
      vsockCid: extras.vsockCid,
      sshAddress: extras.sshAddress,
      sshPrivateKeyPath: extras.sshPrivateKeyPath,
      leaderStartTime: machine.leader.startTime,
      uid: machine.ownerUid,
    }))
    if (machine.unit !== undefined) await state.linkUnit(machine.unit.unit, machine.name)
  }

  // ── Ending a machine ────────────────────────────────────────────────────

  /** UnregisterMachine: forget the machine; its processes keep running (machine_finalize). */
  async unregister(name: string, caller: Caller): Promise<void> {
    const machine = this.get(name)
    this.#ports.authorizer.check(caller, ACTIONS.manageMachines, machine.ownerUid)
    // systemd answers success for ".host" and keeps it.
    if (machine === this.host) return
    await this.#finalize(machine)
  }

  /** TerminateMachine: stop the unit; the machine goes once it is empty (machine_stop). */
  async terminate(name: string, caller: Caller): Promise<void> {
    const machine = this.get(name)
    this.#ports.authorizer.check(caller, ACTIONS.manageMachines, machine.ownerUid)
    if (machine === this.host) throw new NotSupportedError('Operation not supported')
    machine.state = 'closing'
    if (machine.unit !== undefined) await this.#ports.units.stop(machine.unit)
    this.#queueGc(machine)
  }

  /** KillMachine: whom is "leader" or "all" ("" means all), signal 1…64 (machine_kill). */
  async kill(name: string, whom: string, signal: number, caller: Caller): Promise<void> {
    const machine = this.get(name)
    const w: KillWhom | undefined = whom === '' ? 'all' : killWhomFromString(whom)
    if (w === undefined) throw new InvalidArgsError(`Invalid kill parameter '${whom}'`, { parameter: 'whom' })
    if (!signalIsValid(signal)) throw new InvalidArgsError(`Invalid signal ${signal}`, { parameter: 'signal' })
    this.#ports.authorizer.check(caller, ACTIONS.manageMachines, machine.ownerUid)
    if (machine === this.host) throw new NotSupportedError('Operation not supported')
    if (w === 'leader' || machine.unit === undefined) {
      await this.#ports.processes.signal(machine.leader, signal)
      return
    }
    await this.#ports.units.kill(machine.unit, signal)
  }

  async #finalize(machine: Machine): Promise<void> {
    if (this.#machines.get(machine.name) !== machine) return
    machine.state = 'closing'
    this.#unlink(machine)
    await this.#removeTraces(machine, 'remove machine state')
    this.#ports.log.info('Machine terminated', { machine: machine.name })
    for (const l of this.#listeners) l.machineRemoved?.(machine)
  }

  // ── Garbage collection ──────────────────────────────────────────────────

  /**
   * machine_may_gc() as newer systemd has it: a machine stays while its
   * leader lives or its unit still holds processes, and goes when both are
   * over.
   */
  async #mayGc(machine: Machine): Promise<boolean> {
    if (machine === this.host) return false
    const { units, processes } = this.#ports
    if (await processes.isAlive(machine.leader)) return false
    return machine.unit === undefined || !(await units.isPopulated(machine.unit))
  }

  #queueGc(machine: Machine): void {
    if (this.#gcRunning.has(machine)) return
    this.#gcRunning.add(machine)
    this.#gc(machine)
      .catch((err: unknown) => this.#ports.log.warn('Machine garbage collection failed, ignoring', { machine: machine.name, error: String(err) }))
      .finally(() => this.#gcRunning.delete(machine))
  }

  async #gc(machine: Machine): Promise<void> {
    if (this.#machines.get(machine.name) !== machine) return
    if (await this.#mayGc(machine)) await this.#finalize(machine)
  }

  /** Registering over a machine whose processes are all gone replaces it (systemd#9540). */
  async #collectIfDead(name: string): Promise<void> {
    const old = this.#machines.get(name)
    if (old !== undefined && (await this.#mayGc(old))) await this.#finalize(old)
  }

  // ── Looking inside ──────────────────────────────────────────────────────

  #leaderOf(machine: Machine): ProcessRef | undefined {
    return machine === this.host ? undefined : machine.leader
  }

  async addresses(name: string): Promise<Address[]> {
    const machine = this.get(name)
    if (machine.class !== 'container' && machine !== this.host) {
      throw new NotSupportedError('Requesting IP address data is only supported on container machines.')
    }
    const found = await this.#ports.inspector.addresses(this.#leaderOf(machine))
    if (found === undefined) throw new NoPrivateNetworkingError(name)
    return found
  }

  async osRelease(name: string): Promise<Map<string, string>> {
    const machine = this.get(name)
    if (machine.class !== 'container' && machine !== this.host) {
      throw new NotSupportedError('Requesting OS release data is only supported on container machines.')
    }
    const fields = await this.#ports.inspector.osRelease(this.#leaderOf(machine))
    if (fields === undefined) throw new NoOsReleaseInformationError('Machine does not contain OS release information')
    return fields
  }

  async #idMaps(machine: Machine): Promise<{ uidMap: string; gidMap: string } | undefined> {
    if (machine === this.host) return undefined
    return this.#ports.inspector.idMaps(machine.leader)
  }

  /** machine_get_uid_shift(): 0 without a user namespace (or a leader that is gone). */
  async uidShift(name: string): Promise<number> {
    const machine = this.get(name)
    if (machine === this.host) return 0
    if (machine.class !== 'container') throw new NotSupportedError('UID/GID shift may only be determined for container machines.')
    const maps = await this.#idMaps(machine)
    if (maps === undefined) return 0
    const shift = uidShiftFromMaps(maps.uidMap, maps.gidMap)
    if (shift === 'complex') throw new MachinedError('NO_UID_SHIFT', `Machine ${name} uses a complex UID/GID mapping, cannot determine shift`)
    if (shift === 'malformed') throw new FailedError('Bad message')
    return shift
  }

  /** MapFromMachineUser/Group: an id inside the machine → the host's id. */
  async mapFromMachine(name: string, id: number, kind: 'user' | 'group'): Promise<number> {
    const word = kind === 'user' ? 'user' : 'group'
    if (!idIsValid(id)) throw new InvalidArgsError(`Invalid ${word} ID ${id}`)
    const machine = this.get(name)
    if (machine.class !== 'container') throw new InvalidArgsError('Not supported for non-container machines.')
    const maps = await this.#idMaps(machine)
    const ranges = maps === undefined ? [{ inside: 0, outside: 0, count: 0xffffffff }] : parseIdMap(kind === 'user' ? maps.uidMap : maps.gidMap) ?? []
    const outside = mapFromInside(ranges, id)
    // systemd uses the user-mapping error name for groups too.
    if (outside === undefined) throw new MachinedError('NO_SUCH_USER_MAPPING', `Machine '${name}' has no matching ${word} mappings.`)
    return outside
  }

  /** MapToMachineUser/Group: a host id → the container that maps it, and the id inside. */
  async mapToMachine(id: number, kind: 'user' | 'group'): Promise<{ machine: Machine; inside: number }> {
    const [word, Word, code] = kind === 'user' ? ['user', 'User', 'NO_SUCH_USER_MAPPING'] as const : ['group', 'Group', 'NO_SUCH_GROUP_MAPPING'] as const
    if (!idIsValid(id)) throw new InvalidArgsError(`Invalid ${word} ID ${id}`)
    if (id < 0x10000) throw new MachinedError(code, `${Word} ${id} belongs to host ${kind === 'user' ? 'UID' : 'GID'} range`)
    for (const machine of this.#machines.values()) {
      if (machine.class !== 'container') continue
      const maps = await this.#idMaps(machine).catch(() => undefined)
      if (maps === undefined) continue
      const ranges = parseIdMap(kind === 'user' ? maps.uidMap : maps.gidMap) ?? []
      // The identity map of a machine without a user namespace maps nothing of interest.
      if (ranges.length === 1 && ranges[0]!.inside === 0 && ranges[0]!.outside === 0) continue
      const inside = mapToInside(ranges, id)
      if (inside !== undefined) return { machine, inside }
    }
    throw new MachinedError(code, `No matching ${word} mapping for ${id}.`)
  }

  // ── Start-up ────────────────────────────────────────────────────────────

  /**
   * Reads the state directory (manager_enumerate_machines), keeps every
   * machine whose leader still runs, and drops the rest with their files
   * and empty scopes. A recycled PID does not bring a machine back.
   */
  async load(): Promise<void> {
    const { state, log, processes, units } = this.#ports
    await state.init()
    for (const file of await state.list()) {
      let parsed
      try {
        parsed = parseMachineState(file.contents, file.name)
      } catch (err) {
        log.warn('Failed to load machine state, ignoring', { machine: file.name, error: String(err) })
        continue
      }
      for (const w of parsed.warnings) log.warn(w, { machine: file.name })
      const s = parsed.state
      const leader = s.leader === undefined ? undefined : await processes.pin(s.leader)
      const recycled = leader !== undefined && s.leaderStartTime !== undefined && leader.startTime !== s.leaderStartTime
      let unit: UnitRef | undefined
      let live = leader !== undefined && !recycled && (s.class === 'container' || s.class === 'vm')
      if (live && leader !== undefined) {
        unit = await units.unitOfPid(leader.pid).catch(() => undefined)
        // Without a start time on file, the leader must at least still be in the machine's unit.
        if (s.unit !== undefined && unit?.unit !== s.unit) live = false
      }
      if (!live || leader === undefined || this.#machines.has(s.name)) {
        if (recycled) log.info('PID of leader got recycled, ignoring', { machine: file.name, pid: s.leader })
        await this.#dropStale(file.name, s.unit)
        continue
      }
      const machine = new Machine({
        name: s.name, id: s.id === undefined ? NULL_ID : idFromString(s.id) ?? NULL_ID, service: s.service ?? '',
        class: s.class, leader, rootDirectory: s.rootDirectory ?? '', netifs: s.netifs,
        timestamp: { realtime: s.realtime ?? 0n, monotonic: s.monotonic ?? 0n }, ownerUid: s.uid ?? 0,
      })
      this.#extras.set(machine, { vsockCid: s.vsockCid, sshAddress: s.sshAddress, sshPrivateKeyPath: s.sshPrivateKeyPath })
      machine.unit = unit
      machine.ownsUnit = unit !== undefined && unit.unit === machineScopeName(machine.name)
      if (machine.ownsUnit && unit !== undefined) await units.reattach(unit)
      machine.state = 'running'
      // Rewrite the file so it carries what we know now (the start time, a missing unit: link).
      await this.#save(machine)
      this.#link(machine)
      log.info('Machine restored', { machine: machine.name, leader: leader.pid })
      // systemd announces every machine it reloads (machine_start() at startup).
      for (const l of this.#listeners) l.machineNew?.(machine)
      this.#queueGc(machine)
    }
  }

  async #dropStale(name: string, unit: string | undefined): Promise<void> {
    const { state, units, log } = this.#ports
    log.info('Removing stale machine state', { machine: name })
    await state.remove(name)
    if (unit === undefined) return
    await state.unlinkUnit(unit, name)
    if (unit === machineScopeName(name)) {
      // The scope is ours; remove it once nothing runs in it.
      const ref = { unit, cgroup: `/machine.slice/${unit}` }
      await units.reattach(ref)
      await units.release(ref)
    }
  }

  /** Stops watching; machines and their files stay (SIGTERM keeps the registry on disk). */
  dispose(): void {
    for (const w of this.#watchers.values()) w.dispose()
    this.#watchers.clear()
  }
}

function idIsValid(id: number): boolean {
  // uid_is_valid(): not -1 and not the 16-bit -1 either.
  return Number.isInteger(id) && id >= 0 && id < 0xffffffff && id !== 0xffff
}

function leaderUnknown(pid: number): MachinedError {
  return new NoSuchProcessError(`Failed to determine unit of process ${pid} : No such process`)
}

export type { ProcessRef }
