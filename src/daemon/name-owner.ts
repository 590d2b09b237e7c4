/**
 * When org.freedesktop.machine1 is taken: who has it. systemd-machined, or
 * a second machined-ts, owning the name is the usual cause, so the refusal
 * names the owner (its unique name, PID and command, from the bus driver's
 * GetNameOwner and GetConnectionUnixProcessID) and how to switch.
 * @module
 */

import { BUS_NAME } from '../protocol/dbus/org.freedesktop.machine1.ts'
import { processCmdline } from '../linux/proc.ts'
import type { BusConnection } from '../wire/dbus/bus.ts'

export interface NameOwner {
  readonly unique: string
  readonly pid: number | undefined
  readonly command: string | undefined
}

/** The current owner of `name`, or undefined when nobody owns it (any lookup failing past GetNameOwner leaves that part out). */
export async function findNameOwner(bus: BusConnection, name: string): Promise<NameOwner | undefined> {
  let unique: string
  try {
    unique = String((await bus.callDriver('GetNameOwner', 's', [name]))[0])
  } catch {
    return undefined
  }
  const pid = await bus.callDriver('GetConnectionUnixProcessID', 's', [unique]).then(([p]) => Number(p), () => undefined)
  // The PID is the bus's view: from another PID namespace the command may not be ours to read.
  return { unique, pid, command: pid === undefined ? undefined : processCmdline(pid) }
}

/** One line naming the owner and what to do about it. */
export function describeNameTaken(owner: NameOwner): string {
  const who = [owner.unique, owner.pid === undefined ? undefined : `PID ${owner.pid}`, owner.command].filter((s) => s !== undefined).join(', ')
  const hint = owner.command?.includes('systemd-machined') === true
    ? 'stop and mask systemd-machined.service first (README, "Switching from systemd-machined")'
    : 'stop it first'
  return `${BUS_NAME} is already owned by ${who}; ${hint}`
}

/**
 * Refuses at once when the name has an owner already, before anything of
 * the running owner's is touched (its Varlink socket above all, which
 * listen() would otherwise replace).
 */
export async function refuseIfNameTaken(bus: BusConnection): Promise<void> {
  const owner = await findNameOwner(bus, BUS_NAME)
  if (owner !== undefined && owner.unique !== bus.uniqueName) throw new Error(describeNameTaken(owner))
}

/**
 * The error to fail with when RequestName did not give us the name: the
 * owner's description when there is one, else the original error.
 */
export async function nameTakenError(bus: BusConnection, cause: unknown): Promise<Error> {
  const owner = await findNameOwner(bus, BUS_NAME)
  if (owner === undefined || owner.unique === bus.uniqueName) return cause instanceof Error ? cause : new Error(String(cause))
  return new Error(describeNameTaken(owner), { cause })
}
