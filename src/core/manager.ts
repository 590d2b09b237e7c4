/**
 * The Manager (systemd's machined-core.c and the transport-neutral half of
 * machined-dbus.c): registers, finds, stops and forgets machines, keeps
 * state files in step, and collects machines whose processes are gone.
 * Transports decode their wire format into the requests below and map the
 * typed errors thrown here to their own error names.
 * @module
 */

import {
  AccessDeniedError, errorFromCode, FailedError, FileExistsError, InvalidArgsError, MachineExistsError, MachinedError,
  NoMachineForPidError, NoOsReleaseInformationError, NoPrivateNetworkingError, NoSuchMachineError, NoSuchProcessError,
  NotSupportedError,
} from '../protocol/errors.ts'
import { machineNameIsValid } from '../protocol/hostname.ts'
import { machineScopeName } from '../protocol/unit-name.ts'
import { killWhomFromString, machineClassFromString, signalIsValid, type KillWhom, type MachineClass } from '../protocol/vocabulary.ts'
import { ACTIONS, type Action, type Authorizer, type Caller } from './authorization.ts'
import { Leaders } from './leaders.ts'
import { Machine, NULL_ID } from './machine.ts'
import { machineFromRecord, machineToRecord, NO_EXTRAS, type MachineExtras } from './machine-record.ts'
import { mapFromInside, mapToInside, parseIdMap, uidShiftFromMaps } from './id-map.ts'
import { Operations } from './operations.ts'
import type {
  Address, Clock, Disposable, HostInfo, Inspector, Log, MachineFiles, MachinePty, ProcessHandle, Processes, ProcessRef, StateStore,
  Terminals, UnitRef, Units,
} from './ports.ts'
import { DEFAULT_LIMITS, MachineQuota, type ManagerLimits } from './quota.ts'
import { parseScopeProperties, type ScopeProperty, type ScopeSettings } from './scope-properties.ts'
import { shellSpecFromRequest, type ShellRequest } from './shell-request.ts'
import { formatMachineState, parseMachineState, type MachineStateRecord } from './state-file.ts'
import { bindMountPaths, copyFileNames, copyFlagsReplace, copyPaths, type BindMountCall, type CopyCall } from './machine-files.ts'

export { DEFAULT_LIMITS, type ManagerLimits } from './quota.ts'
export type { BindMountCall, CopyCall } from './machine-files.ts'
export type { MachineExtras } from './machine-record.ts'
export type { ShellRequest } from './shell-request.ts'

export interface RegisterRequest {
  readonly name: string
  readonly id: Uint8Array
  readonly service: string
  readonly class: string
  /** 0 means the caller itself, as systemd reads it from the bus credentials (unless a pidfd names the leader). */
  readonly leader: number
  /**
   * LeaderPIDFD (CreateMachineEx/RegisterMachineEx): a pidfd the client
   * passed, naming the leader. An fd of this process, owned by the call.
   */
  readonly leaderPidfd?: number | undefined
  /** LeaderPIDFDID / leaderProcessId.pidfdId: the leader's pidfd inode number as the client knows it. */
  readonly leaderPidfdId?: number | undefined
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

export interface ManagerPorts {
  readonly host: HostInfo
  readonly processes: Processes
  readonly units: Units
  readonly state: StateStore
  readonly inspector: Inspector
  readonly files: MachineFiles
  readonly terminals: Terminals
  readonly clock: Clock
  readonly log: Log
  readonly authorizer: Authorizer
}

/** What of a machine a caller may see (Authorizer.mayInspect): the rest is the same for everybody. */
export interface MachineView {
  readonly rootDirectory: string
  readonly sshPrivateKeyPath: string | undefined
}

export const HOST_MACHINE_NAME = '.host'

/** What systemd answers when OPERATIONS_MAX copies are under way. */
const TOO_MANY_COPIES = 'Too many ongoing copies.'

export class Manager {
  readonly #ports: ManagerPorts
  readonly #quota: MachineQuota
  readonly #leaders: Leaders
  readonly #operations: Operations
  readonly #machines = new Map<string, Machine>()
  /** Machines by unit; systemd lets two registrations share one, the newest answers for it. */
  readonly #byUnit = new Map<string, Machine[]>()
  readonly #byLeader = new Map<number, Machine>()
  /** Names being registered right now: a second registration gets MachineExists. */
  readonly #opening = new Set<string>()
  readonly #watchers = new Map<Machine, Disposable>()
  readonly #extras = new WeakMap<Machine, MachineExtras>()
  readonly #gcRunning = new Set<Machine>()
  readonly #gcAgain = new Set<Machine>()
  readonly #listeners: ManagerEvents[] = []
  readonly host: Machine

  constructor(ports: ManagerPorts, limits: ManagerLimits = DEFAULT_LIMITS) {
    this.#ports = ports
    this.#quota = new MachineQuota(limits)
    this.#leaders = new Leaders(ports.processes)
    this.#operations = new Operations(limits.maxOperations ?? DEFAULT_LIMITS.maxOperations)
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
    return this.#extras.get(machine) ?? NO_EXTRAS
  }

  /**
   * The fields of a machine that point into it, as `caller` may see them:
   * blank unless the caller is root or the machine's owner
   * (Authorizer.mayInspect; CVE-2016-6349). The host's root is "/" for
   * everybody.
   */
  view(machine: Machine, caller: Caller | undefined): MachineView {
    const extras = this.extras(machine)
    if (machine === this.host || this.#ports.authorizer.mayInspect(caller, machine.ownerUid)) {
      return { rootDirectory: machine.rootDirectory, sshPrivateKeyPath: extras.sshPrivateKeyPath }
    }
    return { rootDirectory: '', sshPrivateKeyPath: undefined }
  }

  /** Long-running operations under way (OPERATIONS_MAX applies). */
  get operations(): number {
    return this.#operations.size
  }

  /** Whether OPERATIONS_MAX operations are under way (Varlink's copies check this before anything else). */
  get operationsFull(): boolean {
    return this.#operations.full
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
    if (byLeader !== undefined && (await this.#leaders.isAlive(byLeader))) return byLeader
    let ref: UnitRef | undefined
    try {
      ref = await this.#ports.units.unitOfPid(target)
    } catch (err) {
      if (!(err instanceof NoSuchProcessError)) throw err
    }
    const byUnit = ref === undefined ? undefined : this.#byUnit.get(ref.unit)?.at(-1)
    if (byUnit !== undefined && (await this.#leaders.isAlive(byUnit))) return byUnit
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
    const namedLeader = request.leader !== 0 || request.leaderPidfd !== undefined || request.leaderPidfdId !== undefined
    if (!namedLeader && caller.pid === undefined) throw new FailedError('Failed to determine the PID of the caller')

    await this.#collectIfDead(name)
    if (this.#machines.has(name) || this.#opening.has(name)) throw new MachineExistsError(name)
    // A place is taken before any work, so concurrent registrations cannot overshoot the limits.
    this.#quota.reserve(caller.uid)

    this.#opening.add(name)
    let machine: Machine | undefined
    let handle: ProcessHandle | undefined
    try {
      handle = await this.#holdLeader(request, caller)
      const leader = handle.ref
      // Root may register anything; others only leaders they own, where that is allowed.
      this.#ports.authorizer.checkRegister(caller, await this.#ports.processes.ownerUid(leader))
      // machine_start() refuses anything but containers and VMs.
      if (cls !== 'container' && cls !== 'vm') throw new NotSupportedError('Operation not supported')
      // Scope properties are applied when the machine starts, after the checks above (machine_start()).
      const settings = request.allocateUnit ? parseScopeProperties(request.scopeProperties) : undefined
      const other = this.#byLeader.get(leader.pid)
      if (other !== undefined && (await this.#leaders.isAlive(other))) throw new FileExistsError()
      machine = new Machine({
        name, id, service: request.service, class: cls, leader,
        rootDirectory: request.rootDirectory, netifs: [...(request.netifs ?? [])],
        timestamp: { realtime: this.#ports.clock.realtimeUsec(), monotonic: this.#ports.clock.monotonicUsec() },
        ownerUid: caller.uid,
      })
      this.#extras.set(machine, {
        vsockCid: request.vsockCid, sshAddress: request.sshAddress, sshPrivateKeyPath: request.sshPrivateKeyPath,
      })
      // A user's machine never adopts the unit its leader sits in: that unit may hold other users' processes
      // (a cron job runs in cron.service), which TerminateMachine would stop and KillMachine signal.
      await this.#attachUnit(machine, settings ?? (caller.uid === 0 ? undefined : parseScopeProperties([])))
      await this.#save(machine)
      machine.state = 'running'
    } catch (err) {
      if (machine !== undefined) await this.#removeTraces(machine, 'clean up after a failed registration')
      handle?.dispose()
      this.#quota.release(caller.uid)
      throw err
    } finally {
      this.#opening.delete(name)
    }
    this.#link(machine, handle)
    this.#ports.log.info('New machine', { machine: name, unit: machine.unit?.unit, leader: machine.leader.pid })
    for (const l of this.#listeners) l.machineNew?.(machine)
    return machine
  }

  /**
   * Pins the leader and holds it by pidfd, the way newer systemd resolves
   * LeaderPIDFD, LeaderPIDFDID and LeaderPID (method_create_or_register_machine_ex()),
   * with its messages. A PID alone is accepted too (systemd 252's methods and
   * older clients): it is pinned with its start time and held by pidfd at
   * once, so a PID reused after this point is never taken for the leader.
   */
  async #holdLeader(request: RegisterRequest, caller: Caller): Promise<ProcessHandle> {
    const { processes } = this.#ports
    const { leaderPidfd: fd, leaderPidfdId: pidfdId } = request
    let ref: ProcessRef | undefined
    if (fd !== undefined) {
      ref = await processes.pinPidfd(fd)
      if (ref === undefined) throw new NoSuchProcessError(`Failed to parse PIDFD ${fd}: No such process`)
      if (request.leader !== 0 && request.leader !== ref.pid) {
        throw new InvalidArgsError('LeaderPID and LeaderPIDFD refer to different processes', { parameter: 'leader' })
      }
      if (pidfdId !== undefined && ref.pidfdId !== undefined && ref.pidfdId !== pidfdId) {
        throw new InvalidArgsError('LeaderPIDFDID does not match the inode number of LeaderPIDFD', { parameter: 'leader' })
      }
      if (ref.pid === 1) throw new InvalidArgsError('Invalid leader PID', { parameter: 'leader' })
    } else {
      if (pidfdId !== undefined && request.leader === 0) {
        throw new InvalidArgsError('Both LeaderPID and LeaderPIDFDID must be specified to identify the leader process by PIDFDID', { parameter: 'leader' })
      }
      const pid = request.leader === 0 ? caller.pid : request.leader
      if (pid === undefined) throw new FailedError('Failed to determine the PID of the caller')
      ref = await processes.pin(pid)
      if (ref === undefined) throw leaderUnknown(pid)
    }
    // hold() checks the start time again once the pidfd is open, and the pidfd inode number where one was named.
    const handle = await processes.hold(pidfdId === undefined ? ref : { ...ref, pidfdId })
    if (handle !== undefined) return handle
    if (pidfdId !== undefined && fd === undefined) {
      throw new NoSuchProcessError(`Failed to pin process ${ref.pid} by PIDFDID ${pidfdId}: No such process`)
    }
    throw leaderUnknown(ref.pid)
  }

  /**
   * Create* always makes a scope. Register* adopts the unit the leader
   * already lives in; where it lives in none (usual without systemd as PID
   * 1) we make the scope as Create* would, so the machine's processes are
   * still attributed to it. systemd would answer ENXIO instead. A user's
   * Register* is given a scope too (register() passes settings).
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

  /**
   * Removes what a machine left on disk and lets go of a scope we made;
   * never throws. The unit: link goes before the state file: a crash in
   * between leaves a file the next start checks, never a link to nothing.
   */
  async #removeTraces(machine: Machine, what: string): Promise<void> {
    const { state, units, log } = this.#ports
    try {
      if (machine.unit !== undefined) await state.unlinkUnit(machine.unit.unit, machine.name)
      await state.remove(machine.name)
      if (machine.unit !== undefined && machine.ownsUnit) await units.release(machine.unit)
    } catch (err) {
      log.warn(`Failed to ${what}, ignoring`, { machine: machine.name, error: String(err) })
    }
  }

  #link(machine: Machine, leader: ProcessHandle | undefined): void {
    this.#machines.set(machine.name, machine)
    // The leader's exit queues a GC check (machine_start() watches its pidfd); the rule stays machine_may_gc()'s.
    if (leader !== undefined) this.#leaders.hold(machine, leader, () => this.#queueGc(machine))
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
    this.#leaders.release(machine)
    this.#quota.release(machine.ownerUid)
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

  /** The state file, then the unit: link (a crash in between leaves a file whose link the next start restores). */
  async #save(machine: Machine): Promise<void> {
    const { state } = this.#ports
    await state.write(machine.name, formatMachineState(machineToRecord(machine, this.extras(machine))))
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
    if (machine.state !== 'closing') {
      machine.state = 'closing'
      // On file before any signal (STOPPING=1): a daemon killed from here on carries the stop out when it starts again.
      // Failing to write it must not keep the machine from stopping.
      await this.#save(machine).catch((err: unknown) => this.#ports.log.warn('Failed to save machine state, ignoring', { machine: machine.name, error: String(err) }))
      // A GC that finished meanwhile removed the machine's files: what was just written goes too.
      if (this.#machines.get(machine.name) !== machine) {
        await this.#removeTraces(machine, 'remove machine state')
        return
      }
    }
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
      // Through the leader's pidfd: a dead leader's PID, reused or not, gets no signal ("No such process").
      await this.#leaders.signal(machine, signal)
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
    if (await this.#leaders.isAlive(machine)) return false
    return machine.unit === undefined || !(await this.#ports.units.isPopulated(machine.unit))
  }

  /**
   * Runs a GC check for the machine. An event that comes while a check is
   * under way (the leader's pidfd firing while the scope's emptying is
   * being looked at) runs one more check after it, so no event is lost.
   */
  #queueGc(machine: Machine): void {
    if (this.#gcRunning.has(machine)) {
      this.#gcAgain.add(machine)
      return
    }
    this.#gcRunning.add(machine)
    this.#gc(machine)
      .catch((err: unknown) => this.#ports.log.warn('Machine garbage collection failed, ignoring', { machine: machine.name, error: String(err) }))
      .finally(() => {
        this.#gcRunning.delete(machine)
        if (this.#gcAgain.delete(machine)) this.#queueGc(machine)
      })
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

  // ── Terminals ───────────────────────────────────────────────────────────

  /**
   * The machine whose terminal `caller` may open: containers, and the host
   * itself; other classes answer EOPNOTSUPP from machine_openpt(), after
   * the authorisation check, as in systemd.
   *
   * Root only, even on a machine the caller registered itself: a session
   * runs as the user it names (root by default) in the leader's
   * namespaces, and a leader a user owns may sit in the host's user
   * namespace (or in one whose IDs map onto other users'), where that
   * would be a session as root, or as somebody else, on the host. systemd
   * leaves this to polkit rules; with no polkit, we refuse.
   */
  #terminalTarget(name: string, caller: Caller, action: Action): Machine {
    const machine = this.get(name)
    this.#ports.authorizer.check(caller, action)
    if (machine !== this.host && machine.class !== 'container') throw new NotSupportedError('Operation not supported')
    return machine
  }

  /**
   * Everything Open checks about the machine and the caller, without
   * opening anything (for a transport that cannot hand over the pty).
   */
  checkTerminal(name: string, mode: 'tty' | 'login' | 'shell', caller: Caller): void {
    const action = mode === 'tty' ? ACTIONS.openPty : mode === 'login' ? ACTIONS.login : ACTIONS.enterMachine
    this.#terminalTarget(name, caller, action)
  }

  /**
   * The terminal's leader, once it is known to be alive: a machine whose
   * leader died stays while its unit holds processes, and the dead
   * leader's PID may name any process by now, whose namespaces the helper
   * would enter (ESRCH, "No such process", as namespace_open() fails in
   * systemd).
   */
  async #liveTerminalTarget(name: string, caller: Caller, action: Action): Promise<ProcessRef | undefined> {
    const machine = this.#terminalTarget(name, caller, action)
    if (machine === this.host) return undefined
    if (!(await this.#leaders.isAlive(machine))) throw new NoSuchProcessError('No such process')
    return machine.leader
  }

  /** OpenMachinePTY: a pty in the machine, nothing started on it. */
  async openPty(name: string, caller: Caller): Promise<MachinePty> {
    const leader = await this.#liveTerminalTarget(name, caller, ACTIONS.openPty)
    return this.#operations.run(() => this.#ports.terminals.openPty(leader))
  }

  /** OpenMachineLogin: a pty with the machine's getty on it. */
  async openLogin(name: string, caller: Caller): Promise<MachinePty> {
    const leader = await this.#liveTerminalTarget(name, caller, ACTIONS.login)
    return this.#operations.run(() => this.#ports.terminals.openLogin(leader))
  }

  /** OpenMachineShell: the request is checked before the caller is (systemd reads and checks its arguments first). */
  async openShell(name: string, request: ShellRequest, caller: Caller): Promise<MachinePty> {
    const machine = this.get(name)
    const spec = shellSpecFromRequest(request)
    const leader = await this.#liveTerminalTarget(machine.name, caller, ACTIONS.enterMachine)
    return this.#operations.run(() => this.#ports.terminals.openShell(leader, spec))
  }

  /** SetPoolLimit, CleanPool: root only (polkit's manage-images). */
  checkManageImages(caller: Caller): void {
    this.#ports.authorizer.check(caller, ACTIONS.manageImages)
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
    // Looking into a network namespace runs a child process: an operation, so callers cannot start without limit.
    const found = await this.#operations.run(() => this.#ports.inspector.addresses(this.#leaderOf(machine)))
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

  // ── A container's files ─────────────────────────────────────────────────

  /**
   * OpenMachineRootDirectory: an fd for the machine's "/" (the host's for
   * ".host"), this process's, for the transport to pass on and close
   * (journalctl -M reads the guest's journal through it). systemd asks
   * polkit's manage-machines first, then looks at the class.
   */
  async openRootDirectory(name: string, caller: Caller): Promise<number> {
    const machine = this.get(name)
    this.#ports.authorizer.check(caller, ACTIONS.manageMachines, machine.ownerUid)
    if (machine === this.host) return this.#ports.files.openRootDirectory(undefined)
    if (machine.class !== 'container') throw new NotSupportedError('Opening the root directory is only supported on container machines.')
    // The daemon opens /proc/LEADER/root as root: an owner gets it only while the leader still runs as them (the
    // kernel's own rule for /proc/PID/root), not once it has exec'd a setuid program, say.
    if (caller.uid !== 0 && (await this.#ports.processes.ownerUid(machine.leader)) !== caller.uid) throw new AccessDeniedError('Permission denied')
    return this.#ports.files.openRootDirectory(machine.leader)
  }

  /**
   * Copy{From,To}Machine[WithFlags] (bus_machine_method_copy): checks in
   * systemd's order (operations, class, paths, authorisation), then the
   * copy runs as an operation. Only root may copy: the daemon reads and
   * writes host paths on the caller's behalf, which a machine's owner
   * could otherwise turn against files they cannot reach.
   */
  async copy(name: string, call: CopyCall, caller: Caller): Promise<void> {
    const machine = this.get(name)
    this.#operations.checkRoom(TOO_MANY_COPIES)
    if (machine.class !== 'container') throw new NotSupportedError('Copying files is only supported on container machines.')
    const replace = copyFlagsReplace(call.flags)
    const asked = copyPaths(call)
    this.#ports.authorizer.check(caller, ACTIONS.manageMachines)
    const uidShift = await this.uidShift(name)
    const paths = copyFileNames(asked)
    await this.#operations.run(() => this.#ports.files.copy({ leader: machine.leader, ...paths, uidShift, replace }), TOO_MANY_COPIES)
  }

  /**
   * BindMountMachine (bus_machine_method_bind_mount): through the
   * propagation directory the container manager shares into the guest
   * (nspawn's and machined-spawn's /run/systemd/nspawn/propagate/NAME,
   * seen inside as /run/host/incoming). Root only, as copies.
   */
  async bindMount(name: string, call: BindMountCall, caller: Caller): Promise<void> {
    const machine = this.get(name)
    if (machine.class !== 'container') throw new NotSupportedError('Bind mounting is only supported on container machines.')
    const paths = bindMountPaths(call, machine.name)
    this.#ports.authorizer.check(caller, ACTIONS.manageMachines)
    if ((await this.uidShift(name)) !== 0) throw new NotSupportedError('Can\'t bind mount on container with user namespacing applied.')
    try {
      await this.#ports.files.bindMount({ leader: machine.leader, ...paths, readOnly: call.readOnly, mkdir: call.mkdir })
    } catch (err) {
      if (!(err instanceof MachinedError)) throw err
      throw errorFromCode(err.code, `Failed to mount ${paths.source} on ${paths.destination} in machine's namespace: ${err.message}`)
    }
  }

  // ── Start-up ────────────────────────────────────────────────────────────

  /**
   * Reads the state directory (manager_enumerate_machines) and reconciles
   * it with the processes and scopes that survived: every machine whose
   * leader still runs (the same process: pidfd inode number or start time,
   * and in the machine's unit) is adopted; the rest are dropped with their
   * files and scopes. A recycled PID does not bring a machine back. A file
   * that cannot be read, or that fails to load, is logged and skipped: it
   * never stops the daemon. Then what no machine claims goes: scopes this
   * daemon made in an earlier run (a crash between making a scope and
   * saving the machine leaves one) are released, to be removed once empty,
   * and unit: links naming no machine are removed.
   */
  async load(): Promise<void> {
    const { state, log } = this.#ports
    await state.init()
    for (const file of await state.list()) {
      try {
        await this.#loadOne(file.name, file.contents)
      } catch (err) {
        log.warn('Failed to load machine state, ignoring', { machine: file.name, error: String(err) })
      }
    }
    await this.#sweep().catch((err: unknown) => log.warn('Failed to clean up after an earlier run, ignoring', { error: String(err) }))
  }

  async #loadOne(name: string, contents: string): Promise<void> {
    const { log, processes, units } = this.#ports
    const parsed = parseMachineState(contents, name)
    for (const w of parsed.warnings) log.warn(w, { machine: name })
    const s = parsed.state
    const pinned = s.leader === undefined ? undefined : await processes.pin(s.leader)
    // machine_load(): the PID must still name the recorded process (LEADER_PIDFDID=, and our LEADER_STARTTIME=).
    const handle = pinned === undefined ? undefined : await processes.hold(recordedLeader(pinned, s))
    const recycled = pinned !== undefined && handle === undefined
    let unit: UnitRef | undefined
    let live = handle !== undefined && (s.class === 'container' || s.class === 'vm') && !this.#machines.has(s.name)
    if (live && handle !== undefined) {
      unit = await units.unitOfPid(handle.ref.pid).catch(() => undefined)
      // The leader must still be in the machine's unit.
      if (s.unit !== undefined && unit?.unit !== s.unit) live = false
    }
    if (!live || handle === undefined) {
      handle?.dispose()
      if (recycled) log.info('PID of leader got recycled, ignoring', { machine: name, pid: s.leader })
      await this.#dropStale(name, s.unit)
      return
    }
    const { machine, extras } = machineFromRecord(s, handle.ref)
    this.#extras.set(machine, extras)
    machine.unit = unit
    machine.ownsUnit = unit !== undefined && unit.unit === machineScopeName(machine.name)
    // A stop answered before the daemon went down (STOPPING=1) is carried out now.
    const stopping = s.stopping === true
    try {
      if (machine.ownsUnit && unit !== undefined) await units.reattach(unit)
      machine.state = stopping ? 'closing' : 'running'
      // Rewrite the file so it carries what we know now (the pidfd inode number, a missing unit: link).
      await this.#save(machine)
    } catch (err) {
      handle.dispose()
      throw err
    }
    // A machine reloaded is kept even if the limits have shrunk since it was registered.
    this.#quota.force(machine.ownerUid)
    this.#link(machine, handle)
    log.info('Machine restored', { machine: machine.name, leader: machine.leader.pid })
    // systemd announces every machine it reloads (machine_start() at startup).
    for (const l of this.#listeners) l.machineNew?.(machine)
    if (stopping && unit !== undefined) {
      log.info('Stopping a machine whose termination a restart cut short', { machine: machine.name, unit: unit.unit })
      await units.stop(unit).catch((err: unknown) => log.warn('Failed to stop machine, ignoring', { machine: machine.name, error: String(err) }))
    }
    this.#queueGc(machine)
  }

  async #dropStale(name: string, unit: string | undefined): Promise<void> {
    const { state, units, log } = this.#ports
    log.info('Removing stale machine state', { machine: name })
    if (unit !== undefined) await state.unlinkUnit(unit, name)
    await state.remove(name)
    if (unit === machineScopeName(name)) {
      // The scope is ours; remove it once nothing runs in it.
      const ref = { unit, cgroup: `/machine.slice/${unit}` }
      await units.reattach(ref)
      await units.release(ref)
    }
  }

  /** After loading: scopes and links an earlier run left that no machine claims. */
  async #sweep(): Promise<void> {
    const { state, units, log } = this.#ports
    for (const ref of await units.leftoverScopes()) {
      if (this.#byUnit.has(ref.unit)) continue
      log.info('Releasing a scope no machine claims, to be removed once empty', { unit: ref.unit })
      await units.reattach(ref)
      await units.release(ref)
    }
    for (const link of await state.listLinks()) {
      if (this.#machines.get(link.name)?.unit?.unit === link.unit) continue
      log.info('Removing a unit: link to no machine', { unit: link.unit, machine: link.name })
      await state.unlinkUnit(link.unit, link.name)
    }
  }

  /** Stops watching and lets go of the leaders' pidfds; machines and their files stay (SIGTERM keeps the registry on disk). */
  dispose(): void {
    for (const w of this.#watchers.values()) w.dispose()
    this.#watchers.clear()
    this.#leaders.dispose()
  }
}

/** What the state file says the leader was: its start time and pidfd inode number where recorded. */
function recordedLeader(pinned: ProcessRef, s: MachineStateRecord): ProcessRef {
  return { pid: pinned.pid, startTime: s.leaderStartTime ?? pinned.startTime, pidfdId: s.leaderPidfdId }
}

function idIsValid(id: number): boolean {
  // uid_is_valid(): not -1 and not the 16-bit -1 either.
  return Number.isInteger(id) && id >= 0 && id < 0xffffffff && id !== 0xffff
}

function leaderUnknown(pid: number): MachinedError {
  return new NoSuchProcessError(`Failed to determine unit of process ${pid} : No such process`)
}

export type { ProcessRef }
