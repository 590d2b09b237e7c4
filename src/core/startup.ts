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
  const { state, units, log } = manager.ports
  await state.init()
  // The state files are read (off this thread, where the store can) while the unit: links are: list() first.
  const [listed, linked] = await Promise.all([state.list(), state.listLinks()])
  // Every unit: link and the machine it names, read once: a machine whose link is right leaves it alone,
  // and one that is removed leaves the map, so that the sweep does not look for it again.
  const links = new Map(linked.map((l) => [l.unit, l.name]))
  const files = parseAll(manager, listed)
  // The leaders' units are read a chunk ahead (units.unitsOfPids(), off this thread where the backend can),
  // while this thread loads the chunk before; the first chunk reads its own, so nothing waits for the first read.
  let ahead: Promise<Map<number, UnitRef | undefined>> | undefined
  for (let start = 0; start < files.length; start += CHUNK) {
    const known = await ahead
    const next = files.slice(start + CHUNK, start + 2 * CHUNK).flatMap((f) => f.state.leader ?? [])
    ahead = next.length === 0 ? undefined : units.unitsOfPids(next).catch(() => new Map<number, UnitRef | undefined>())
    for (const file of files.slice(start, start + CHUNK)) {
      try {
        await loadMachine(manager, file, links, known)
      } catch (err) {
        log.warn('Failed to load machine state, ignoring', { machine: file.name, error: String(err) })
      }
    }
  }
  await sweepLeftovers(manager, links).catch((err: unknown) => log.warn('Failed to clean up after an earlier run, ignoring', { error: String(err) }))
}

/** Machines loaded between two reads ahead of their leaders' units: enough that a read is worth a trip off the thread. */
const CHUNK = 1000

interface StateFile {
  readonly name: string
  readonly contents: string
  readonly state: MachineStateRecord
}

/** Every state file parsed (its warnings logged); one that fails to parse is logged and skipped. */
function parseAll(manager: Manager, files: readonly { name: string; contents: string }[]): StateFile[] {
  const { log } = manager.ports
  const out: StateFile[] = []
  for (const { name, contents } of files) {
    try {
      const parsed = parseMachineState(contents, name)
      for (const w of parsed.warnings) log.warn(w, { machine: name })
      out.push({ name, contents, state: parsed.state })
    } catch (err) {
      log.warn('Failed to load machine state, ignoring', { machine: name, error: String(err) })
    }
  }
  return out
}

/**
 * machine_load() and machine_start() at start-up, for one state file; `links`: the unit: links found on
 * disk; `known`: leaders' units read ahead, each about the process its PID named when it was read.
 */
async function loadMachine(manager: Manager, file: StateFile, links: Map<string, string>, known: ReadonlyMap<number, UnitRef | undefined> | undefined): Promise<void> {
  const { log, processes, units } = manager.ports
  const { name, contents, state: s } = file
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
    // A unit read ahead is the held process's only when the held process is the one on file: that one ran
    // before the read (when the file was written) and after it (now), so the PID named it in between.
    // The handle passed isRecordedLeader() above; that proves it only where there was something to compare.
    const pid = handle.ref.pid
    unit = known?.has(pid) === true && leaderComparable(handle.ref, s)
      ? known.get(pid)
      : await units.unitOfPid(pid).catch(() => undefined)
    // The leader must still be in the machine's unit.
    if (s.unit !== undefined && unit?.unit !== s.unit) live = false
  }
  if (!live || handle === undefined) {
    handle?.dispose()
    if (recycled) log.info('PID of leader got recycled, ignoring', { machine: name, pid: s.leader })
    await dropStale(manager, name, s.unit, links)
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
    // The map follows the directory: the links removed later at start-up are removed without reading them again.
    if (unit !== undefined) links.set(unit.unit, machine.name)
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

/** A stale machine's unit: link (if it names the machine), its state file, and its scope if it is ours. */
async function dropStale(manager: Manager, name: string, unit: string | undefined, links: Map<string, string>): Promise<void> {
  const { state, units, log } = manager.ports
  log.info('Removing stale machine state', { machine: name })
  if (unit !== undefined && links.get(unit) === name) {
    await state.removeLink(unit)
    links.delete(unit)
  }
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
    await state.removeLink(unit)
  }
}

/** Whether isRecordedLeader() has something to compare: the start time, or the pidfd inode numbers of both. */
function leaderComparable(ref: ProcessRef, s: MachineStateRecord): boolean {
  return s.leaderStartTime !== undefined || (s.leaderPidfdId !== undefined && ref.pidfdId !== undefined)
}

/** Whether the process is the one the state file recorded: its start time and pidfd inode number, where recorded. */
function isRecordedLeader(ref: ProcessRef, s: MachineStateRecord): boolean {
  if (s.leaderStartTime !== undefined && s.leaderStartTime !== ref.startTime) return false
  return s.leaderPidfdId === undefined || ref.pidfdId === undefined || s.leaderPidfdId === ref.pidfdId
}
