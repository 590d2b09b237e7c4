/**
 * When a machine goes (machine_may_gc(), machine_finalize()): once its
 * leader has exited and its unit holds no process, or when it is
 * unregistered. The registry's queue (Manager.queueGc) runs the check.
 * @module
 */

import type { Machine } from './machine.ts'
import { removeMachineTraces } from './machine-save.ts'
import type { Manager } from './manager.ts'

/**
 * machine_may_gc() as newer systemd has it: a machine stays while its
 * leader lives or its unit still holds processes, and goes when both are
 * over. The host never goes.
 */
async function machineMayGc(manager: Manager, machine: Machine): Promise<boolean> {
  if (machine === manager.host) return false
  if (await manager.leaders.isAlive(machine)) return false
  return machine.unit === undefined || !(await manager.ports.units.isPopulated(machine.unit))
}

/** machine_finalize(): unlinks the machine and removes its traces; a machine already gone is left alone. */
export async function finalizeMachine(manager: Manager, machine: Machine): Promise<void> {
  if (!manager.isLinked(machine)) return
  machine.state = 'closing'
  manager.unlink(machine)
  await removeMachineTraces(manager, machine, 'remove machine state')
  manager.ports.log.info('Machine terminated', { machine: machine.name })
  manager.announceRemoved(machine)
}

/** One GC check: the machine goes if it is still registered and may go. */
export async function collectIfGone(manager: Manager, machine: Machine): Promise<void> {
  if (!manager.isLinked(machine)) return
  if (await machineMayGc(manager, machine)) await finalizeMachine(manager, machine)
}

/** Registering over a machine whose processes are all gone replaces it (systemd#9540). */
export async function collectIfDead(manager: Manager, name: string): Promise<void> {
  const old = manager.find(name)
  if (old !== undefined && (await machineMayGc(manager, old))) await finalizeMachine(manager, old)
}
