/**
 * Where mctl looks for machined: the system bus, and io.systemd.Machine's
 * Varlink socket.
 * @module
 */

import { MACHINE_SOCKET_PATH } from '../protocol/varlink/io.systemd.Machine.ts'

const DEFAULT_BUS = 'unix:path=/run/dbus/system_bus_socket'

export interface Endpoints {
  readonly busAddress: string
  readonly varlinkSocket: string
}

const set = (v: string | undefined): v is string => v !== undefined && v !== ''

export function endpointsFrom(env: NodeJS.ProcessEnv): Endpoints {
  return {
    busAddress: set(env.DBUS_SYSTEM_BUS_ADDRESS) ? env.DBUS_SYSTEM_BUS_ADDRESS : DEFAULT_BUS,
    // Ours, as $DBUS_SYSTEM_BUS_ADDRESS is the bus's: a machined serving io.systemd.Machine elsewhere (--varlink-socket).
    varlinkSocket: set(env.MACHINED_VARLINK_SOCKET) ? env.MACHINED_VARLINK_SOCKET : MACHINE_SOCKET_PATH,
  }
}
