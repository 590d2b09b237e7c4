/**
 * Serving io.systemd.Machine and io.systemd.MachineImage over Varlink (the
 * Varlink half of systemd's manager_startup()): one server on the Machine
 * socket and the MachineImage socket, bound to the same Manager as D-Bus,
 * with callers known by SO_PEERCRED.
 * @module
 */

import type { Log, MachineServices } from '../core/ports.ts'
import type { Manager } from '../core/manager.ts'
import { peerCredentialsOf, sendWithFds } from '../backends/native.ts'
import { PidfdProcessIdentity } from '../backends/process-identity.ts'
import { machineImageBinding } from '../transports/varlink/image.ts'
import { machineBinding } from '../transports/varlink/machine.ts'
import { machinesBinding } from '../transports/varlink/machines.ts'
import { VarlinkServer, type VarlinkServerLimits } from '../transports/varlink/server.ts'

export interface VarlinkServiceOptions {
  readonly path: string
  /** Also serve the same interfaces here (io.systemd.MachineImage's own socket); undefined: only on `path`. */
  readonly imagePath?: string | undefined
  /** A listening socket passed by socket activation: served instead of binding `path`. */
  readonly fd?: number | undefined
  readonly manager: Manager
  /** Machines from images as services (io.machinedts.Machines); undefined: none. */
  readonly services?: MachineServices | undefined
  readonly log: Log
  readonly version: string
  readonly limits?: Partial<VarlinkServerLimits>
}

export async function startVarlink(options: VarlinkServiceOptions): Promise<VarlinkServer> {
  const server = new VarlinkServer({
    info: { vendor: 'machined-ts', product: 'machined-ts', version: options.version, url: '' },
    log: options.log,
    peerCredentials: peerCredentialsOf,
    limits: options.limits ?? {},
    fdSender: sendWithFds,
  })
  server.addInterface(machineBinding({ manager: options.manager, identity: new PidfdProcessIdentity() }))
  // As systemd-machined: one server with io.systemd.Machine and io.systemd.MachineImage, on both sockets.
  server.addInterface(machineImageBinding({ manager: options.manager }))
  // Ours, beside systemd's (docs/images.md): machines from images, as services.
  server.addInterface(machinesBinding({ manager: options.manager, services: options.services }))
  if (options.fd !== undefined) await server.listenFd(options.fd)
  else await server.listen(options.path, { mode: 0o666 })
  if (options.imagePath !== undefined) await server.listen(options.imagePath, { mode: 0o666 })
  return server
}
