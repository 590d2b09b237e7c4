/**
 * Reaching machined. machinectl talks D-Bus only and refuses to start
 * unless /run/systemd/system exists; mctl checks neither for systemd nor
 * for a particular daemon. With --transport=auto (the default) it takes
 * org.freedesktop.machine1 when it runs on the system bus, because `show`
 * and `status` need its properties (State, NetworkInterfaces); else
 * io.systemd.Machine on Varlink; else a machined the bus can start (as
 * machinectl would). A verb that Varlink serves whole in one call (`list`)
 * takes io.systemd.Machine first when its socket is there. When none answers, it says so in one line. The client
 * modules are loaded only once a verb needs them, to keep start-up short.
 * @module
 */

import { existsSync } from 'node:fs'
import type { DbusMachinedClient } from '../client/dbus.ts'
import type { MachinedClient } from '../client/types.ts'
import type { Endpoints } from './endpoints.ts'
import { CliError, describeError } from './errors.ts'
import type { Transport } from './options.ts'

export { endpointsFrom, type Endpoints } from './endpoints.ts'

async function connectDbus(e: Endpoints): Promise<DbusMachinedClient> {
  const { DbusMachinedClient } = await import('../client/dbus.ts')
  return DbusMachinedClient.connect(e.busAddress, e.varlinkSocket, { pipelined: true })
}

async function connectVarlink(e: Endpoints): Promise<MachinedClient> {
  const { VarlinkMachinedClient } = await import('../client/varlink.ts')
  return VarlinkMachinedClient.connect(e.varlinkSocket, e.busAddress)
}

export async function openClient(transport: Transport, e: Endpoints, options: { varlinkFirst?: boolean } = {}): Promise<MachinedClient> {
  if (transport === 'dbus') {
    // As machinectl: a bus without machined shows up as the first call's error.
    try {
      return await connectDbus(e)
    } catch (err) {
      throw new CliError(`Failed to connect to bus: ${describeError(err)}`)
    }
  }
  if (transport === 'varlink') {
    try {
      return await connectVarlink(e)
    } catch (err) {
      throw new CliError(`Failed to connect to ${e.varlinkSocket}: ${describeError(err)}`)
    }
  }

  if (options.varlinkFirst === true && existsSync(e.varlinkSocket)) {
    try {
      return await connectVarlink(e)
    } catch {
      // Refused or not listening: the usual order below says why, if nothing else answers.
    }
  }
  return openAuto(e)
}

/** A running machined on the bus; else the Varlink socket; else one the bus can start; else a one-line error. */
async function openAuto(e: Endpoints): Promise<MachinedClient> {
  let bus: DbusMachinedClient | undefined
  let busProblem: string
  try {
    bus = await connectDbus(e)
    if (await bus.isRunning()) return bus
    busProblem = 'org.freedesktop.machine1 is not on the system bus'
  } catch (err) {
    bus?.close()
    bus = undefined
    busProblem = `the system bus (${e.busAddress}) is not reachable: ${describeError(err)}`
  }
  let varlinkProblem = `${e.varlinkSocket} does not exist`
  let denied = false
  if (existsSync(e.varlinkSocket)) {
    try {
      const client = await connectVarlink(e)
      bus?.close()
      return client
    } catch (err) {
      denied = (err as NodeJS.ErrnoException).code === 'EACCES'
      varlinkProblem = `${e.varlinkSocket}: ${describeError(err)}`
    }
  }
  if (bus !== undefined) {
    try {
      await bus.activate()
      return bus
    } catch (err) {
      bus.close()
      busProblem += ` (${describeError(err)})`
    }
  }
  throw new CliError(`${denied ? 'Cannot reach machined' : 'No machined is running'}: ${busProblem}, and ${varlinkProblem}.`)
}

/** The D-Bus client, when that is what we talk through: only D-Bus has typed properties and the Manager object. */
export function dbusOf(client: MachinedClient): DbusMachinedClient | undefined {
  return client.transport === 'dbus' ? (client as DbusMachinedClient) : undefined
}
