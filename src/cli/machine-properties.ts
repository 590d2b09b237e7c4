/**
 * A machine's properties with their D-Bus types, whichever transport is in
 * use. Over D-Bus they are the Machine object's own (GetMachine, then
 * GetAll). Varlink has no properties: they are rebuilt from
 * io.systemd.Machine.List, which lacks State and NetworkInterfaces
 * (the latter is then empty, the former missing). machined-ts adds what it
 * knows beyond systemd's fields (io.machinedts.Machines.Describe): ImageName
 * and ImagePath, the pool image the machine runs from, after systemd's
 * properties and only when known (docs/compat.md).
 * @module
 */

import type { MachinedClient } from '../client/types.ts'
import { dbusOf } from './connection.ts'
import { CliError, describeError } from './errors.ts'
import type { TypedProperty } from './output/properties.ts'

/** A machine found by name; reading its properties may still fail. */
export interface FoundMachine {
  properties(): Promise<TypedProperty[]>
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16))
}

/** ImageName and ImagePath, when the daemon is machined-ts and knows them; nothing otherwise. */
async function imageProperties(client: MachinedClient, name: string): Promise<TypedProperty[]> {
  const d = await client.describe(name).catch(() => undefined)
  const out: TypedProperty[] = []
  if (d?.imageName !== undefined) out.push({ name: 'ImageName', signature: 's', value: d.imageName })
  if (d?.imagePath !== undefined) out.push({ name: 'ImagePath', signature: 's', value: d.imagePath })
  return out
}

/** GetMachine: throws "Could not get path to machine: …" as machinectl does. */
export async function findMachine(client: MachinedClient, name: string): Promise<FoundMachine> {
  const fail = (err: unknown): never => { throw new CliError(`Could not get path to machine: ${describeError(err)}`) }
  const dbus = dbusOf(client)
  if (dbus !== undefined) {
    const path = await dbus.machinePath(name).catch(fail)
    return { properties: async () => [...await dbus.propertyList(path), ...await imageProperties(client, name)] }
  }
  const m = await client.get(name).catch(fail)
  return {
    // In the order systemd's Machine object lists them.
    properties: async () => [
      { name: 'Name', signature: 's', value: m.name },
      { name: 'Id', signature: 'ay', value: hexBytes(m.id) },
      { name: 'Timestamp', signature: 't', value: m.timestamp.realtime },
      { name: 'TimestampMonotonic', signature: 't', value: m.timestamp.monotonic },
      { name: 'Service', signature: 's', value: m.service },
      { name: 'Unit', signature: 's', value: m.unit },
      { name: 'Leader', signature: 'u', value: m.leader },
      { name: 'Class', signature: 's', value: m.class },
      { name: 'RootDirectory', signature: 's', value: m.rootDirectory },
      { name: 'NetworkInterfaces', signature: 'ai', value: [...m.networkInterfaces] },
      ...await imageProperties(client, name),
    ],
  }
}

/** The Manager's properties (PoolPath, PoolUsage, PoolLimit): D-Bus only. */
export async function managerProperties(client: MachinedClient): Promise<TypedProperty[]> {
  const dbus = dbusOf(client)
  if (dbus === undefined) throw new CliError('Could not get properties: the Manager object is only reachable over D-Bus (try --transport=dbus)')
  return dbus.propertyList()
}
