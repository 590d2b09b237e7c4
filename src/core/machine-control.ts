/**
 * Ending a machine and signalling it (systemd's machine_stop(),
 * machine_kill(), and UnregisterMachine's machine_finalize()). Each takes
 * the machine a transport found, checks the caller, then acts.
 * @module
 */

import { InvalidArgsError, NotSupportedError } from '../protocol/errors.ts'
import { killWhomFromString, signalIsValid, type KillWhom } from '../protocol/vocabulary.ts'
import { ACTIONS, type Caller } from './authorization.ts'
import type { Machine } from './machine.ts'
import { finalizeMachine } from './machine-gc.ts'
import { removeMachineTraces, saveMachine } from './machine-save.ts'
import type { Manager } from './manager.ts'

/** UnregisterMachine: forget the machine; its processes keep running (machine_finalize). */
export async function unregisterMachine(manager: Manager, machine: Machine, caller: Caller): Promise<void> {
  manager.ports.authorizer.check(caller, ACTIONS.manageMachines, machine.ownerUid)
  // systemd answers success for ".host" and keeps it.
  if (machine === manager.host) return
  await finalizeMachine(manager, machine)
}

/** TerminateMachine: stop the unit; the machine goes once it is empty (machine_stop). */
export async function terminateMachine(manager: Manager, machine: Machine, caller: Caller): Promise<void> {
  const { authorizer, log, units } = manager.ports
  authorizer.check(caller, ACTIONS.manageMachines, machine.ownerUid)
  if (machine === manager.host) throw new NotSupportedError('Operation not supported')
  if (machine.state !== 'closing') {
    machine.state = 'closing'
    manager.announceChanged(machine)
    // On file before any signal (STOPPING=1): a daemon killed from here on carries the stop out when it starts again.
    // Failing to write it must not keep the machine from stopping.
    await saveMachine(manager, machine).catch((err: unknown) => log.warn('Failed to save machine state, ignoring', { machine: machine.name, error: String(err) }))
    // A GC that finished meanwhile removed the machine's files: what was just written goes too.
    if (!manager.isLinked(machine)) {
      await removeMachineTraces(manager, machine, 'remove machine state')
      return
    }
  }
  if (machine.unit !== undefined) await units.stop(machine.unit)
  manager.queueGc(machine)
}

/** KillMachine: whom is "leader" or "all" ("" means all), signal 1…64 (machine_kill). */
export async function killMachine(manager: Manager, machine: Machine, whom: string, signal: number, caller: Caller): Promise<void> {
  const w: KillWhom | undefined = whom === '' ? 'all' : killWhomFromString(whom)
  if (w === undefined) throw new InvalidArgsError(`Invalid kill parameter '${whom}'`, { parameter: 'whom' })
  if (!signalIsValid(signal)) throw new InvalidArgsError(`Invalid signal ${signal}`, { parameter: 'signal' })
  manager.ports.authorizer.check(caller, ACTIONS.manageMachines, machine.ownerUid)
  if (machine === manager.host) throw new NotSupportedError('Operation not supported')
  if (w === 'leader' || machine.unit === undefined) {
    // Through the leader's pidfd: a dead leader's PID, reused or not, gets no signal ("No such process").
    await manager.leaders.signal(machine, signal)
    return
  }
  await manager.ports.units.kill(machine.unit, signal)
}
