/**
 * Finding machined: Varlink when its socket is there (what newer systemd
 * clients prefer), else org.freedesktop.machine1 on the system bus.
 * @module
 */

import { access, constants } from 'node:fs'
import { MACHINE_SOCKET_PATH } from '../protocol/varlink/io.systemd.Machine.ts'
import { DbusMachinedClient } from './dbus.ts'
import { MachinedUnavailableError } from './errors.ts'
import type { ConnectOptions, MachinedClient, RegisterOptions } from './types.ts'
import { VarlinkMachinedClient } from './varlink.ts'

const DEFAULT_BUS = 'unix:path=/run/dbus/system_bus_socket'

/** The system bus's address: the caller's, else $DBUS_SYSTEM_BUS_ADDRESS, else the well-known socket. */
export function busAddressOf(options: ConnectOptions = {}): string {
  return options.busAddress ?? process.env.DBUS_SYSTEM_BUS_ADDRESS ?? DEFAULT_BUS
}

/** The bus answered, but no machined runs on it: connect()'s error, and machined-spawn's (which asks the bus itself). */
export function noMachinedOnBus(): MachinedUnavailableError {
  return new MachinedUnavailableError('No machined (org.freedesktop.machine1) is running on the system bus')
}

function reachable(path: string): Promise<boolean> {
  return new Promise((resolve) => { access(path, constants.W_OK, (err) => { resolve(err === null) }) })
}

/**
 * Connects to machined. Rejects with MachinedUnavailableError when there is
 * none to talk to.
 *
 * @example
 * const machined = await connect()
 * await machined.register({ name: 'web', class: 'container', leader: child.pid, service: 'my-manager' })
 * // … later
 * await machined.unregister('web')
 */
export async function connect(options: ConnectOptions = {}): Promise<MachinedClient> {
  const transport = options.transport ?? 'auto'
  const socket = options.varlinkSocket ?? MACHINE_SOCKET_PATH
  const busAddress = busAddressOf(options)
  if (transport === 'varlink' || (transport === 'auto' && (await reachable(socket)))) {
    try {
      return await VarlinkMachinedClient.connect(socket, busAddress)
    } catch (err) {
      if (transport === 'varlink') throw new MachinedUnavailableError(`machined is not listening on ${socket}`, { cause: err })
    }
  }
  let client: DbusMachinedClient
  try {
    client = await DbusMachinedClient.connect(busAddress, socket)
  } catch (err) {
    throw new MachinedUnavailableError(`Neither ${socket} nor the system bus at ${busAddress} could be reached`, { cause: err })
  }
  if (!(await client.available().catch(() => false))) {
    client.close()
    throw noMachinedOnBus()
  }
  return client
}

/** connect(), or undefined where no machined runs: for managers that must also work without one. */
export async function connectIfAvailable(options: ConnectOptions = {}): Promise<MachinedClient | undefined> {
  try {
    return await connect(options)
  } catch (err) {
    if (err instanceof MachinedUnavailableError) return undefined
    throw err
  }
}

/**
 * "Register if possible" (systemd#15876): registers the machine when a
 * machined runs and returns the client to unregister it with later;
 * returns undefined, without an error, when there is none. Errors of the
 * registration itself (a taken name, bad input) are still thrown.
 */
export async function registerIfAvailable(machine: RegisterOptions, options: ConnectOptions = {}): Promise<MachinedClient | undefined> {
  const client = await connectIfAvailable(options)
  if (client === undefined) return undefined
  try {
    await client.register(machine)
  } catch (err) {
    client.close()
    throw err
  }
  return client
}
