/**
 * Closed vocabularies, spelled as systemd spells them on the wire
 * (machine.c string tables).
 * @module
 */

/** The table's own string for `s` (not `s`: a value kept with each machine is then one string for them all). */
function lookup<const T extends readonly string[]>(table: T): (s: string) => T[number] | undefined {
  return (s) => table.find((t) => t === s)
}

/** `host` exists in systemd's table but can never be registered by a client. */
export const MACHINE_CLASSES = ['container', 'vm', 'host'] as const
export type MachineClass = (typeof MACHINE_CLASSES)[number]
export const machineClassFromString = lookup(MACHINE_CLASSES)

export const MACHINE_STATES = ['opening', 'running', 'closing'] as const
export type MachineState = (typeof MACHINE_STATES)[number]
export const machineStateFromString = lookup(MACHINE_STATES)

export const KILL_WHOM = ['leader', 'all'] as const
export type KillWhom = (typeof KILL_WHOM)[number]
export const killWhomFromString = lookup(KILL_WHOM)

/** Linux's _NSIG is 65: signals 1…64 are valid (systemd's SIGNAL_VALID). */
export const SIGNAL_MAX = 64
export function signalIsValid(signal: number): boolean {
  return Number.isInteger(signal) && signal > 0 && signal <= SIGNAL_MAX
}
