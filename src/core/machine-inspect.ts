/**
 * Looking inside a machine (machine_get_addresses() and
 * machine_get_os_release() in systemd's machined-core.c): containers and
 * the host only, through the Inspector port.
 * @module
 */

import { NoOsReleaseInformationError, NoPrivateNetworkingError, NotSupportedError } from '../protocol/errors.ts'
import type { Machine } from './machine.ts'
import type { Manager } from './manager.ts'
import type { Address, ProcessRef } from './ports.ts'

/** The leader whose namespaces to look into; undefined for the host, which is looked at directly. */
function inspectedLeader(manager: Manager, machine: Machine): ProcessRef | undefined {
  return machine === manager.host ? undefined : machine.leader
}

/** GetMachineAddresses: NoPrivateNetworking when the machine shares the host's network namespace. */
export async function machineAddresses(manager: Manager, machine: Machine): Promise<Address[]> {
  if (machine.class !== 'container' && machine !== manager.host) {
    throw new NotSupportedError('Requesting IP address data is only supported on container machines.')
  }
  // Looking into a network namespace takes a thread of its own (backends/inspector.ts): an operation, so callers cannot start them without limit.
  const found = await manager.runOperation(() => manager.ports.inspector.addresses(inspectedLeader(manager, machine)))
  if (found === undefined) throw new NoPrivateNetworkingError(machine.name)
  return found
}

/** GetMachineOSRelease: the machine's os-release fields. */
export async function machineOsRelease(manager: Manager, machine: Machine): Promise<Map<string, string>> {
  if (machine.class !== 'container' && machine !== manager.host) {
    throw new NotSupportedError('Requesting OS release data is only supported on container machines.')
  }
  const fields = await manager.ports.inspector.osRelease(inspectedLeader(manager, machine))
  if (fields === undefined) throw new NoOsReleaseInformationError('Machine does not contain OS release information')
  return fields
}
