/**
 * Registering a machine: CreateMachine*, RegisterMachine* and Varlink
 * Register (systemd's method_create_or_register_machine(), machine_new(),
 * machine_link() and machine_start()). Checks come in systemd's order so
 * the first complaint matches; nothing is left behind when any step
 * fails.
 * @module
 */

import { FailedError, FileExistsError, InvalidArgsError, NoSuchProcessError, NotSupportedError, type MachinedError } from '../protocol/errors.ts'
import { machineNameIsValid } from '../protocol/hostname.ts'
import { imageNameIsValid } from '../protocol/image.ts'
import { machineScopeName } from '../protocol/unit-name.ts'
import { machineClassFromString, type MachineClass } from '../protocol/vocabulary.ts'
import type { Caller } from './authorization.ts'
import { Machine, NO_NETIFS, NULL_ID } from './machine.ts'
import { collectIfDead } from './machine-gc.ts'
import { removeMachineTraces, saveMachine } from './machine-save.ts'
import type { Manager } from './manager.ts'
import type { ProcessHandle, UnitRef } from './ports.ts'
import { parseScopeProperties, type ScopeProperty, type ScopeSettings } from './scope-properties.ts'

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
  /** ImageName, ImagePath (ours): the pool image the machine runs from, as its launcher says. */
  readonly imageName?: string | undefined
  readonly imagePath?: string | undefined
  /** Create* (machined makes the scope) rather than Register* (the leader's unit is adopted). */
  readonly allocateUnit: boolean
  readonly scopeProperties: readonly ScopeProperty[]
}

/** Registers the machine `request` describes, for `caller`; the machine is linked and announced when this resolves. */
export async function registerMachine(manager: Manager, request: RegisterRequest, caller: Caller): Promise<Machine> {
  const { name } = request
  const { authorizer, clock, log } = manager.ports
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
  if (request.imageName !== undefined && request.imageName !== '' && !imageNameIsValid(request.imageName)) {
    throw new InvalidArgsError('Invalid image name', { parameter: 'imageName' })
  }
  if (request.imagePath !== undefined && request.imagePath !== '' && !request.imagePath.startsWith('/')) {
    throw new InvalidArgsError('Image path must be empty or an absolute path', { parameter: 'imagePath' })
  }
  const namedLeader = request.leader !== 0 || request.leaderPidfd !== undefined || request.leaderPidfdId !== undefined
  if (!namedLeader && caller.pid === undefined) throw new FailedError('Failed to determine the PID of the caller')

  await collectIfDead(manager, name)
  manager.reserveName(name)

  let machine: Machine | undefined
  let handle: ProcessHandle | undefined
  let placed = false
  try {
    const held = await holdLeader(manager, request, caller)
    handle = held
    const leader = held.ref
    // Root may register anything; others only leaders they own, where that is allowed.
    await authorizer.checkRegister(caller, () => held.ownerUid())
    // A place under the limits only now: a registration refused above never held one, so a burst of refused
    // registrations cannot make an allowed one look over the limit (nor turn their own AccessDenied into LimitsExceeded).
    manager.takePlace(caller.uid)
    placed = true
    // machine_start() refuses anything but containers and VMs.
    if (cls !== 'container' && cls !== 'vm') throw new NotSupportedError('Operation not supported')
    // Scope properties are applied when the machine starts, after the checks above (machine_start()).
    const settings = request.allocateUnit ? parseScopeProperties(request.scopeProperties) : undefined
    if ((await manager.liveMachineLedBy(leader.pid)) !== undefined) throw new FileExistsError()
    machine = new Machine({
      name, id, service: request.service, class: cls, leader,
      rootDirectory: request.rootDirectory, netifs: request.netifs === undefined || request.netifs.length === 0 ? NO_NETIFS : [...request.netifs],
      timestamp: { realtime: clock.realtimeUsec(), monotonic: clock.monotonicUsec() },
      ownerUid: caller.uid,
    })
    manager.setExtras(machine, {
      vsockCid: request.vsockCid, sshAddress: request.sshAddress, sshPrivateKeyPath: request.sshPrivateKeyPath,
      imageName: nonEmpty(request.imageName), imagePath: nonEmpty(request.imagePath),
    })
    // A user's machine never adopts the unit its leader sits in: that unit may hold other users' processes
    // (a cron job runs in cron.service), which TerminateMachine would stop and KillMachine signal.
    await attachUnit(manager, machine, settings ?? (caller.uid === 0 ? undefined : parseScopeProperties([])))
    await saveMachine(manager, machine)
    machine.state = 'running'
  } catch (err) {
    if (machine !== undefined) await removeMachineTraces(manager, machine, 'clean up after a failed registration')
    handle?.dispose()
    manager.cancelReservation(name, placed ? caller.uid : undefined)
    throw err
  }
  manager.link(machine, { leader: handle, place: 'reserved' })
  log.info('New machine', { machine: name, unit: machine.unit?.unit, leader: machine.leader.pid })
  manager.announceNew(machine)
  return machine
}

/**
 * Pins the leader and holds it by pidfd, the way newer systemd resolves
 * LeaderPIDFD, LeaderPIDFDID and LeaderPID (method_create_or_register_machine_ex()),
 * with its messages. A PID alone is accepted too (systemd 252's methods and
 * older clients): it is pinned with its start time and held by pidfd in
 * one step (Processes.holdPid), so a PID reused after this point is never
 * taken for the leader.
 */
async function holdLeader(manager: Manager, request: RegisterRequest, caller: Caller): Promise<ProcessHandle> {
  const { processes } = manager.ports
  const { leaderPidfd: fd, leaderPidfdId: pidfdId } = request
  if (fd === undefined) {
    if (pidfdId !== undefined && request.leader === 0) {
      throw new InvalidArgsError('Both LeaderPID and LeaderPIDFDID must be specified to identify the leader process by PIDFDID', { parameter: 'leader' })
    }
    const pid = request.leader === 0 ? caller.pid : request.leader
    if (pid === undefined) throw new FailedError('Failed to determine the PID of the caller')
    const handle = await processes.holdPid(pid)
    if (handle === undefined) throw leaderUnknown(pid)
    // A pidfd inode number names one process for the whole boot: the PID's must be the one named.
    if (pidfdId === undefined || handle.ref.pidfdId === undefined || handle.ref.pidfdId === pidfdId) return handle
    handle.dispose()
    throw new NoSuchProcessError(`Failed to pin process ${pid} by PIDFDID ${pidfdId}: No such process`)
  }
  const ref = await processes.pinPidfd(fd)
  if (ref === undefined) throw new NoSuchProcessError(`Failed to parse PIDFD ${fd}: No such process`)
  if (request.leader !== 0 && request.leader !== ref.pid) {
    throw new InvalidArgsError('LeaderPID and LeaderPIDFD refer to different processes', { parameter: 'leader' })
  }
  if (pidfdId !== undefined && ref.pidfdId !== undefined && ref.pidfdId !== pidfdId) {
    throw new InvalidArgsError('LeaderPIDFDID does not match the inode number of LeaderPIDFD', { parameter: 'leader' })
  }
  if (ref.pid === 1) throw new InvalidArgsError('Invalid leader PID', { parameter: 'leader' })
  // hold() checks the start time again once our own pidfd is open, and the pidfd inode number.
  const handle = await processes.hold(pidfdId === undefined ? ref : { ...ref, pidfdId })
  if (handle === undefined) throw leaderUnknown(ref.pid)
  return handle
}

/**
 * Create* always makes a scope. Register* adopts the unit the leader
 * already lives in; where it lives in none (usual without systemd as PID
 * 1) we make the scope as Create* would, so the machine's processes are
 * still attributed to it. systemd would answer ENXIO instead. A user's
 * Register* is given a scope too (registerMachine() passes settings).
 */
async function attachUnit(manager: Manager, machine: Machine, settings: ScopeSettings | undefined): Promise<void> {
  const { units } = manager.ports
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

function nonEmpty(s: string | undefined): string | undefined {
  return s === '' ? undefined : s
}

function leaderUnknown(pid: number): MachinedError {
  return new NoSuchProcessError(`Failed to determine unit of process ${pid} : No such process`)
}
