/**
 * Registering the container with machined, as systemd-nspawn does
 * (nspawn-register.c): CreateMachineWithNetwork, so machined makes
 * machine.slice/machine-NAME.scope and moves the container's PID 1 in, with
 * the scope properties nspawn sends; with --keep-unit,
 * RegisterMachineWithNetwork for the unit we already run in. Always over
 * D-Bus: only CreateMachine carries scope properties.
 * @module
 */

import type { MachinedClient, ScopeProperty } from '../client/index.ts'
import { busAddressOf, noMachinedOnBus } from '../client/connect.ts'
import { DbusMachinedClient } from '../client/dbus.ts'
import { MachinedUnavailableError } from '../client/errors.ts'
import { CONTAINER_MANAGER_ID } from './environment.ts'
import { idBytes } from './machine-id.ts'

/** Linux's SIGRTMIN as glibc numbers it (34); SIGRTMIN+3 asks systemd to halt, which ends a container. */
export const SIGRTMIN = 34
export const SIGKILL = 9

export interface RegistrationRequest {
  readonly name: string
  /** 32 hex digits. */
  readonly id: string
  /** The container's PID 1 as the host sees it. */
  readonly leader: number
  readonly rootDirectory: string
  /** Have machined make the scope (CreateMachine), or adopt the unit the leader is in (--keep-unit). */
  readonly allocateUnit: boolean
  readonly boot: boolean
  /** Host-side interfaces of the container (--network-veth's ve-NAME). */
  readonly networkInterfaces?: readonly number[]
  /** The pool image it runs from (machined-ts records it; systemd-machined is not told). */
  readonly image?: { readonly name: string; readonly path: string } | undefined
}

/**
 * nspawn's append_machine_properties(): only the pseudo devices, ptys and
 * tun; `machinectl terminate` stops the scope with the signal that shuts
 * the payload down cleanly (SIGRTMIN+3 for an init, SIGKILL otherwise),
 * sent to PID 1 only (KillMode=mixed), the rest killed afterwards.
 */
export function scopeProperties(boot: boolean): ScopeProperty[] {
  return [
    { name: 'Description', signature: 's', value: 'Container managed by machined-spawn' },
    { name: 'DevicePolicy', signature: 's', value: 'closed' },
    { name: 'DeviceAllow', signature: 'a(ss)', value: [['/dev/net/tun', 'rwm'], ['char-pts', 'rw']] },
    { name: 'KillMode', signature: 's', value: 'mixed' },
    { name: 'KillSignal', signature: 'i', value: boot ? SIGRTMIN + 3 : SIGKILL },
  ]
}

function unreachable(err: unknown): Error {
  return new Error(`Failed to connect to machined: ${(err as Error).message} (use --register=no to run without)`, { cause: err })
}

/**
 * machined on the system bus ($DBUS_SYSTEM_BUS_ADDRESS), once it has said
 * that no machine of this name exists; else a one-line Error. Checked
 * before anything is started. The SDK's connect() asks the bus whether
 * machined runs and only then may the first call go out; here both
 * questions go out together, and right behind the handshake and Hello
 * (a pipelined connection): the container's start waits for one round
 * trip to the bus, not three. The call is also the first one that reaches machined:
 * a bus that only knows how to activate it (and fails to) shows up here.
 */
export async function reachMachined(name: string): Promise<MachinedClient> {
  const address = busAddressOf()
  let client: DbusMachinedClient
  try {
    client = await DbusMachinedClient.connect(address, undefined, { pipelined: true })
  } catch (err) {
    throw unreachable(new MachinedUnavailableError(`The system bus at ${address} could not be reached`, { cause: err }))
  }
  const [running, existing] = await Promise.allSettled([client.available(), client.get(name)])
  try {
    if (running.status === 'rejected') throw unreachable(running.reason)
    if (!running.value) throw unreachable(noMachinedOnBus())
    if (existing.status === 'fulfilled') throw new Error(`Machine '${name}' already exists`)
    if ((existing.reason as { code?: string }).code !== 'NO_SUCH_MACHINE') throw unreachable(existing.reason)
    return client
  } catch (err) {
    client.close()
    throw err
  }
}

export async function registerContainer(machined: MachinedClient, r: RegistrationRequest): Promise<void> {
  await machined.register({
    name: r.name,
    class: 'container',
    service: CONTAINER_MANAGER_ID,
    leader: r.leader,
    id: idBytes(r.id),
    rootDirectory: r.rootDirectory,
    networkInterfaces: r.networkInterfaces ?? [],
    allocateUnit: r.allocateUnit,
    ...(r.allocateUnit ? { scopeProperties: scopeProperties(r.boot) } : {}),
    ...(r.image === undefined ? {} : { image: r.image }),
  })
}

/** Unregisters; a machine machined has already dropped (its scope emptied first) is fine. */
export async function unregisterContainer(machined: MachinedClient, name: string): Promise<void> {
  try {
    await machined.unregister(name)
  } catch (err) {
    if ((err as { code?: string }).code !== 'NO_SUCH_MACHINE') throw err
  }
}
