/**
 * Serving io.systemd.Machine over Varlink (the Varlink half of systemd's
 * manager_startup()): one server on the given socket path, bound to the
 * same Manager as D-Bus, with callers known by SO_PEERCRED.
 * @module
 */

import type { Log } from '../core/ports.ts'
import type { Manager } from '../core/manager.ts'
import { peerCredentialsOf, sendWithFds } from '../backends/native.ts'
import { PidfdProcessIdentity } from '../backends/process-identity.ts'
import { machineBinding } from '../transports/varlink/machine.ts'
import { VarlinkServer, type VarlinkServerLimits } from '../transports/varlink/server.ts'

export interface VarlinkServiceOptions {
  readonly path: string
  /** A listening socket passed by socket activation: served instead of binding `path`. */
  readonly fd?: number | undefined
  readonly manager: Manager
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
  if (options.fd !== undefined) await server.listenFd(options.fd)
  else await server.listen(options.path, { mode: 0o666 })
  return server
}
