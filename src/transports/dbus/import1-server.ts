/**
 * org.freedesktop.import1 on a bus connection of its own. dbus-daemon
 * applies a name's policy to every message for the connection that owns
 * it, whatever name the message names: were one connection to own both
 * machine1 and import1, systemd-container's import1 policy ("deny
 * send_destination=org.freedesktop.import1", then the import1 methods
 * allowed) would refuse machine1's calls from users other than root, and
 * machine1's would refuse import1's. Two connections keep each policy to
 * its own name, as two daemons would.
 * @module
 */

import type { Caller } from '../../core/authorization.ts'
import type { Disposable, Log } from '../../core/ports.ts'
import type { TransferContext } from '../../core/transfer-control.ts'
import { IMPORT1_BUS_NAME, IMPORT1_PATH } from '../../protocol/transfer.ts'
import type { BusConnection, IncomingCall } from '../../wire/dbus/bus.ts'
import { CallLoop } from './call-loop.ts'
import { CredentialsCache } from './credentials.ts'
import { Import1Objects } from './import1.ts'
import { ObjectTree, type Resolved } from './object-tree.ts'

export interface Import1ServerOptions {
  /** A connection of its own (see above). */
  readonly bus: BusConnection
  readonly transfers: TransferContext
  readonly log: Log
  /** /etc/machine-id as 32 hex digits, for org.freedesktop.DBus.Peer.GetMachineId. */
  readonly machineId: string
  readonly maxPendingPerSender: number
}

/** Parent nodes sd-bus introspects on the way down to the Manager. */
const PARENT_NODES: Readonly<Record<string, string>> = {
  '/': 'org',
  '/org': 'freedesktop',
  '/org/freedesktop': 'import1',
}

export class Import1Server implements Disposable {
  readonly #bus: BusConnection
  readonly #objects: Import1Objects

  constructor(options: Import1ServerOptions) {
    this.#bus = options.bus
    const credentials = new CredentialsCache(options.bus)
    const callerOf = (call: IncomingCall): Promise<Caller> => credentials.callerOf(call.sender)
    this.#objects = new Import1Objects({
      transfers: options.transfers,
      callerOf,
      takeFd: (call, fd) => {
        for (const other of options.bus.takeFds(call)) if (other !== fd) options.transfers.closeFd(other)
        return fd
      },
      emitSignal: (...args) => options.bus.emitSignal(...args),
    })
    const tree = new ObjectTree({
      resolve: async (path, call) => this.#resolve(path, call),
      machineId: () => options.machineId,
      // Every import1 method is SD_BUS_VTABLE_UNPRIVILEGED: the core decides.
      checkPrivileged: async () => undefined,
    })
    const calls = new CallLoop({ bus: options.bus, log: options.log, maxPendingPerSender: options.maxPendingPerSender, dispatch: (call) => tree.dispatch(call) })
    options.bus.onCall((call) => calls.answer(call))
  }

  #resolve(path: string, call: IncomingCall): Resolved | undefined {
    const parent = PARENT_NODES[path]
    if (parent !== undefined) return { kind: 'node', children: [parent] }
    return path === IMPORT1_PATH || path.startsWith(`${IMPORT1_PATH}/`)
      ? this.#objects.resolve(path, call.interface === 'org.freedesktop.DBus.Introspectable')
      : undefined
  }

  /** Claims org.freedesktop.import1; throws when someone else has it (systemd-importd, say). */
  async requestName(): Promise<void> {
    const code = await this.#bus.requestName(IMPORT1_BUS_NAME)
    // 1 = primary owner, 4 = already owner.
    if (code !== 1 && code !== 4) throw new Error(`${IMPORT1_BUS_NAME} is owned by another process (RequestName answered ${code})`)
  }

  dispose(): void {
    this.#objects.dispose()
  }
}
