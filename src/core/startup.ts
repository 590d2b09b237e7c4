/**
 * Start-up (systemd's manager_enumerate_machines() and the clean-up of
 * manager_startup()): reads the state directory into the registry and
 * reconciles it with the processes and scopes that survived, then sweeps
 * away what an earlier run left that no machine claims.
 * @module
 */

import { machineScopeName } from '../protocol/unit-name.ts'
import { machineFromRecord } from './machine-record.ts'
import { saveMachine } from './machine-save.ts'
import type { Manager } from './manager.ts'
import type { ProcessRef, UnitRef } from './ports.ts'
import { parseMachineState, type MachineStateRecord } from './state-file.ts'

/**
 * Every machine whose leader still runs (the same process: pidfd inode
 * number or start time, and in the machine's unit) is adopted; the rest
 * are dropped with their files and scopes. A recycled PID does not bring
 * a machine back. A file that cannot be read, or that fails to load, is
 * logged and skipped: it never stops the daemon. Then what no machine
 * claims goes (sweepLeftovers()).
 */
export async function loadMachines(manager: Manager): Promise<void> {
  const { state, log } = manager.ports
  await state.init()
  // Every unit: link and the machine it names, read once: a machine whose link is right leaves it alone.
  const links = new Map((await state.listLinks()).map((l) => [l.unit, l.name]))
  for (const file of await state.list()) {
    try {
      await loadMachine(manager, file.name, file.contents, links)
    } catch (err) {
      log.warn('Failed to load machine state, ignoring', { machine: file.name, error: String(err) })
    }
  }
  await sweepLeftovers(manager, links).catch((err: unknown) => log.warn('Failed to clean up after an earlier run, ignoring', { error: String(err) }))
}

/** machine_load() and machine_start() at start-up, for one state file; `links`: the unit: links found on disk. */
async function loadMachine(manager: Manager, name: string, contents: string, links: ReadonlyMap<string, string>): Promise<void> {
  const { log, processes, units } = manager.ports
  const parsed = parseMachineState(contents, name)
  for (const w of parsed.warnings) log.warn(w, { machine: name })
  const s = parsed.state
  // machine_load(): the PID must still name the recorded process (LEADER_PIDFDID=, and our LEADER_STARTTIME=).
  // Where both are on file, hold() checks the pidfd inode number alone; otherwise, or when it fails (to tell a
  // recycled PID from a dead leader), the process the PID names now is held and compared.
  const recorded = s.leader !== undefined && s.leaderStartTime !== undefined && s.leaderPidfdId !== undefined
    ? { pid: s.leader, startTime: s.leaderStartTime, pidfdId: s.leaderPidfdId }
    : undefined
  const exact = recorded === undefined ? undefined : await processes.hold(recorded)
  const held = exact ?? (s.leader === undefined ? undefined : await processes.holdPid(s.leader))
  const recycled = held !== undefined && !isRecordedLeader(held.ref, s)
  const handle = recycled ? undefined : held
  if (recycled) held.dispose()
  let unit: UnitRef | undefined
  let live = handle !== undefined && (s.class === 'container' || s.class === 'vm') && manager.find(s.name) === undefined
  if (live && handle !== undefined) {
    unit = await units.unitOfPid(handle.ref.pid).catch(() => undefined)
    // The leader must still be in the machine's unit.
    if (s.unit !== undefined && unit?.unit !== s.unit) live = false
  }
  if (!live || handle === undefined) {
    handle?.dispose()
    if (recycled) log.info('PID of leader got recycled, ignoring', { machine: name, pid: s.leader })
    await dropStale(manager, name, s.unit !== undefined && links.get(s.unit) === name ? s.unit : undefined, s.unit)
    return
  }
  const { machine, extras } = machineFromRecord(s, handle.ref)
  manager.setExtras(machine, extras)
  machine.unit = unit
  machine.ownsUnit = unit !== undefined && unit.unit === machineScopeName(machine.name)
  // A stop answered before the daemon went down (STOPPING=1) is carried out now.
  const stopping = s.stopping === true
  try {
    if (machine.ownsUnit && unit !== undefined) await units.reattach(unit)
    machine.state = stopping ? 'closing' : 'running'
    // Rewrite the file so it carries what we know now (the pidfd inode number, a missing unit: link);
    // a file that already says exactly that is left as it is (with 10,000 machines, most of a start's time).
    await saveMachine(manager, machine, { contents, linked: unit !== undefined && links.get(unit.unit) === machine.name })
  } catch (err) {
    handle.dispose()
    throw err
  }
  manager.link(machine, { leader: handle, place: 'forced' })
  log.debug('Machine restored', { machine: machine.name, leader: machine.leader.pid })
  // systemd announces every machine it reloads (machine_start() at startup).
  manager.announceNew(machine)
  if (stopping && unit !== undefined) {
    log.info('Stopping a machine whose termination a restart cut short', { machine: machine.name, unit: unit.unit })
    await units.stop(unit).catch((err: unknown) => log.warn('Failed to stop machine, ignoring', { machine: machine.name, error: String(err) }))
  }
  // A leader that died since it was held is announced by its handle (its pidfd is readable); one whose exit
  // nothing announces is looked at now.
  if (stopping || !handle.announcesExit) manager.queueGc(machine)
}

/** `linked`: the unit whose unit: link names this machine, if one does. */
async function dropStale(manager: Manager, name: string, linked: string | undefined, unit: string | undefined): Promise<void> {
  const { state, units, log } = manager.ports
  log.info('Removing stale machine state', { machine: name })
  if (linked !== undefined) await state.unlinkUnit(linked, name)
  await state.remove(name)
  if (unit === machineScopeName(name)) {
    // The scope is ours; remove it once nothing runs in it.
    const ref = { unit, cgroup: `/machine.slice/${unit}` }
    await units.reattach(ref)
    await units.release(ref)
  }
}

/**
 * After loading: scopes this daemon made in an earlier run that no
 * machine claims (a crash between making a scope and saving the machine
 * leaves one) are released, to be removed once empty, and unit: links
 * naming no machine are removed.
 */
async function sweepLeftovers(manager: Manager, links: ReadonlyMap<string, string>): Promise<void> {
  const { state, units, log } = manager.ports
  for (const ref of await units.leftoverScopes()) {
    if (manager.claimsUnit(ref.unit)) continue
    log.info('Releasing a scope no machine claims, to be removed once empty', { unit: ref.unit })
    await units.reattach(ref)
    await units.release(ref)
  }
  for (const [unit, name] of links) {
    if (manager.find(name)?.unit?.unit === unit) continue
    log.info('Removing a unit: link to no machine', { unit, machine: name })
    await state.unlinkUnit(unit, name)
  }
}

/** Whether the process is the one the state file recorded: its start time and pidfd inode number, where recorded. */
function isRecordedLeader(ref: ProcessRef, s: MachineStateRecord): boolean {
  if (s.leaderStartTime !== undefined && s.leaderStartTime !== ref.startTime) return false
  return s.leaderPidfdId === undefined || ref.pidfdId === undefined || s.leaderPidfdId === ref.pidfdId
}
