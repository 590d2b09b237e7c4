/**
 * A container's users and groups as the host sees them: its UID shift
 * (machine_get_uid_shift()) and mapping single IDs in and out
 * (MapFromMachineUser/Group, MapToMachineUser/Group, Varlink MapFrom and
 * MapTo), from its leader's uid_map and gid_map.
 * @module
 */

import { FailedError, InvalidArgsError, MachinedError, NotSupportedError } from '../protocol/errors.ts'
import { mapFromInside, mapToInside, parseIdMap, uidShiftFromMaps } from './id-map.ts'
import type { Machine } from './machine.ts'
import type { Manager } from './manager.ts'

export type IdKind = 'user' | 'group'

/** uid_is_valid(): not -1 and not the 16-bit -1 either. */
function idIsValid(id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id < 0xffffffff && id !== 0xffff
}

/** Throws systemd's InvalidArgs for an ID that is no UID or GID (checked before the machine is looked up). */
export function checkId(id: number, kind: IdKind): void {
  if (!idIsValid(id)) throw new InvalidArgsError(`Invalid ${kind} ID ${id}`)
}

async function idMaps(manager: Manager, machine: Machine): Promise<{ uidMap: string; gidMap: string } | undefined> {
  if (machine === manager.host) return undefined
  return manager.ports.inspector.idMaps(machine.leader)
}

/** machine_get_uid_shift(): 0 without a user namespace (or a leader that is gone). */
export async function machineUidShift(manager: Manager, machine: Machine): Promise<number> {
  if (machine === manager.host) return 0
  if (machine.class !== 'container') throw new NotSupportedError('UID/GID shift may only be determined for container machines.')
  const maps = await idMaps(manager, machine)
  if (maps === undefined) return 0
  const shift = uidShiftFromMaps(maps.uidMap, maps.gidMap)
  if (shift === 'complex') throw new MachinedError('NO_UID_SHIFT', `Machine ${machine.name} uses a complex UID/GID mapping, cannot determine shift`)
  if (shift === 'malformed') throw new FailedError('Bad message')
  return shift
}

/** MapFromMachineUser/Group: an id inside the machine → the host's id. */
export async function mapFromMachine(manager: Manager, machine: Machine, id: number, kind: IdKind): Promise<number> {
  checkId(id, kind)
  if (machine.class !== 'container') throw new InvalidArgsError('Not supported for non-container machines.')
  const maps = await idMaps(manager, machine)
  const ranges = maps === undefined ? [{ inside: 0, outside: 0, count: 0xffffffff }] : parseIdMap(kind === 'user' ? maps.uidMap : maps.gidMap) ?? []
  const outside = mapFromInside(ranges, id)
  // systemd uses the user-mapping error name for groups too.
  if (outside === undefined) throw new MachinedError('NO_SUCH_USER_MAPPING', `Machine '${machine.name}' has no matching ${kind} mappings.`)
  return outside
}

/** MapToMachineUser/Group: a host id → the container that maps it, and the id inside. */
export async function mapToMachine(manager: Manager, id: number, kind: IdKind): Promise<{ machine: Machine; inside: number }> {
  const [Word, code] = kind === 'user' ? ['User', 'NO_SUCH_USER_MAPPING'] as const : ['Group', 'NO_SUCH_GROUP_MAPPING'] as const
  checkId(id, kind)
  if (id < 0x10000) throw new MachinedError(code, `${Word} ${id} belongs to host ${kind === 'user' ? 'UID' : 'GID'} range`)
  for (const machine of manager.list()) {
    if (machine.class !== 'container') continue
    const maps = await idMaps(manager, machine).catch(() => undefined)
    if (maps === undefined) continue
    const ranges = parseIdMap(kind === 'user' ? maps.uidMap : maps.gidMap) ?? []
    // The identity map of a machine without a user namespace maps nothing of interest.
    if (ranges.length === 1 && ranges[0]!.inside === 0 && ranges[0]!.outside === 0) continue
    const inside = mapToInside(ranges, id)
    if (inside !== undefined) return { machine, inside }
  }
  throw new MachinedError(code, `No matching ${kind} mapping for ${id}.`)
}
