/**
 * Transfers in the daemon (what systemd-importd is next to
 * systemd-machined): the registry with its runner, handed to the D-Bus
 * server as org.freedesktop.import1, and io.systemd.Import served on its
 * own Varlink socket, /run/systemd/io.systemd.Import.
 * @module
 */

import type { Authorizer } from '../core/authorization.ts'
import type { ImagePool, Log } from '../core/ports.ts'
import type { TransferContext } from '../core/transfer-control.ts'
import { Transfers } from '../core/transfers.ts'
import { sweepLeftovers } from '../backends/transfer-install.ts'
import { closeFd, fdKind, LocalTransferer } from '../backends/transfer-runner.ts'
import { peerCredentialsOf } from '../backends/native.ts'
import { TRANSFERS_MAX } from '../protocol/transfer.ts'
import { IMPORT_SOCKET_PATH } from '../protocol/varlink/io.systemd.Import.ts'
import { Import1Server } from '../transports/dbus/import1-server.ts'
import { importBinding } from '../transports/varlink/import.ts'
import { BusConnection } from '../wire/dbus/bus.ts'
import { VarlinkServer, type VarlinkServerLimits } from '../transports/varlink/server.ts'

export const TRANSFER_ARGS = {
  'max-transfers': { type: 'string' },
} as const

export const TRANSFER_HELP = `     --max-transfers=N          Limit on image transfers (imports, exports,
                                pulls) under way at once (default ${TRANSFERS_MAX})
`

/** --max-transfers=N, as the other limits are parsed. */
export function maxTransfersFrom(values: { 'max-transfers'?: string | undefined }): number {
  const text = values['max-transfers']
  const n = text === undefined ? TRANSFERS_MAX : /^\d+$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`Invalid --max-transfers=${text}`)
  return n
}

export interface TransferService {
  readonly context: TransferContext
  /**
   * Serves org.freedesktop.import1 on a connection of its own to the bus at
   * `address` (import1-server.ts says why); when the name is taken (a
   * systemd-importd runs), says so and serves machine1 on regardless.
   */
  serveDbus(options: { address: string; machineId: string; maxPendingPerSender: number }): Promise<void>
  /** Starts io.systemd.Import on its socket (`path`; undefined: none). */
  serveVarlink(path: string | undefined, limits: Partial<VarlinkServerLimits>, version: string): Promise<void>
  dispose(): void
}

export function startTransfers(options: { images: ImagePool; authorizer: Authorizer; log: Log; max: number }): TransferService {
  // What transfers of a daemon that was killed left behind goes before any transfer starts.
  const swept = sweepLeftovers(options.images.poolPath).then(
    (names) => { if (names.length > 0) options.log.info('Removed what interrupted transfers left in the pool', { names: names.join(' ') }) },
    (err: unknown) => options.log.warn('Failed to look for what interrupted transfers left, ignoring', { error: String(err) }),
  )
  const transfers = new Transfers({
    runner: new LocalTransferer({ images: options.images, poolPath: options.images.poolPath, ready: swept }),
    log: options.log,
    max: options.max,
  })
  const context: TransferContext = { transfers, authorizer: options.authorizer, fdKind, closeFd }
  let varlink: VarlinkServer | undefined
  let dbus: { bus: BusConnection; server: Import1Server } | undefined
  return {
    context,
    serveDbus: async ({ address, machineId, maxPendingPerSender }) => {
      const bus = await BusConnection.connect(address, { log: options.log })
      const server = new Import1Server({ bus, transfers: context, log: options.log, machineId, maxPendingPerSender })
      dbus = { bus, server }
      bus.onClose((err) => options.log.error('Lost the connection to the system bus for org.freedesktop.import1', { error: String(err) }))
      try {
        await server.requestName()
        options.log.info('Serving org.freedesktop.import1', { unique: bus.uniqueName })
      } catch (err) {
        options.log.warn('Not serving image transfers on D-Bus', { error: (err as Error).message })
      }
    },
    serveVarlink: async (path, limits, version) => {
      if (path === undefined) return
      varlink = new VarlinkServer({
        info: { vendor: 'machined-ts', product: 'machined-ts', version, url: '' },
        log: options.log,
        peerCredentials: peerCredentialsOf,
        limits,
      })
      varlink.addInterface(importBinding(context))
      await varlink.listen(path, { mode: 0o666 })
      options.log.info('Serving io.systemd.Import', { socket: path })
    },
    dispose: () => {
      transfers.dispose()
      dbus?.server.dispose()
      dbus?.bus.close()
      varlink?.close().catch((err: unknown) => options.log.warn('Failed to close the Varlink socket, ignoring', { error: String(err) }))
    },
  }
}

export { IMPORT_SOCKET_PATH }
