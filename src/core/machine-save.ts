/**
 * A machine's traces on disk (machine_save(), and what machine_finalize()
 * removes): its state file and the unit:<unit> link, and the scope
 * machined made for it.
 * @module
 */

import type { Machine } from './machine.ts'
import { machineToRecord } from './machine-record.ts'
import type { Manager } from './manager.ts'
import { formatMachineState } from './state-file.ts'

/**
 * The state file, then the unit: link (a crash in between leaves a file
 * whose link the next start restores). `onDisk`, when known: what the file
 * holds now and whether the link names the machine already; what is
 * already right is not written again.
 */
export async function saveMachine(manager: Manager, machine: Machine, onDisk?: { contents: string; linked: boolean }): Promise<void> {
  const { state } = manager.ports
  const contents = formatMachineState(machineToRecord(machine, manager.extras(machine)))
  if (contents !== onDisk?.contents) await state.write(machine.name, contents)
  if (machine.unit !== undefined && onDisk?.linked !== true) await state.linkUnit(machine.unit.unit, machine.name)
}

/**
 * Removes what a machine left on disk and lets go of a scope we made;
 * never throws. The unit: link goes before the state file: a crash in
 * between leaves a file the next start checks, never a link to nothing.
 * `what` names the step in the warning.
 */
export async function removeMachineTraces(manager: Manager, machine: Machine, what: string): Promise<void> {
  const { state, units, log } = manager.ports
  try {
    if (machine.unit !== undefined) await state.unlinkUnit(machine.unit.unit, machine.name)
    await state.remove(machine.name)
    if (machine.unit !== undefined && machine.ownsUnit) await units.release(machine.unit)
  } catch (err) {
    log.warn(`Failed to ${what}, ignoring`, { machine: machine.name, error: String(err) })
  }
}
