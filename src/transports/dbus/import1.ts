/**
 * org.freedesktop.import1 on D-Bus, as systemd-importd 252 serves it
 * (importd.c): the Manager at /org/freedesktop/import1, one Transfer
 * object per transfer under /org/freedesktop/import1/transfer/_ID, and
 * the signals TransferNew, TransferRemoved and LogMessage. Each method
 * decodes, takes the fd it was passed, and calls the core
 * (core/transfer-control.ts), which checks and authorises.
 * @module
 */

import type { Caller } from '../../core/authorization.ts'
import { cancelTransfer, cancelTransferById, exportImage, importImage, pullImage, type TransferContext } from '../../core/transfer-control.ts'
import type { Transfer } from '../../core/transfers.ts'
import type { Disposable } from '../../core/ports.ts'
import {
  IMPORT_MANAGER_INTERFACE, IMPORT_MANAGER_INTERFACE_NAME, TRANSFER_INTERFACE, TRANSFER_INTERFACE_NAME,
} from '../../protocol/dbus/org.freedesktop.import1.ts'
import type { MethodName } from '../../protocol/dbus/org.freedesktop.machine1.ts'
import { IMPORT1_PATH, TRANSFER_PATH_PREFIX, transferIdOfLabel } from '../../protocol/transfer.ts'
import type { IncomingCall } from '../../wire/dbus/bus.ts'
import { EMPTY_REPLY, type MethodHandler, type ObjectInterface, type Reply, type Resolved } from './object-tree.ts'

export interface Import1Context {
  readonly transfers: TransferContext
  callerOf(call: IncomingCall): Promise<Caller>
  /** Takes the fd the call passed out of the connection's care: it is the transfer's now (or closed by the core). */
  takeFd(call: IncomingCall, fd: number): number
  emitSignal(path: string, iface: string, member: string, signature: string, body: readonly unknown[]): void
}

const started = (t: Transfer): Reply => ({ signature: 'uo', body: [t.id, t.path] })

function managerMethods(ctx: Import1Context): Record<MethodName<typeof IMPORT_MANAGER_INTERFACE>, MethodHandler> {
  const tc = ctx.transfers
  const importing = (type: 'import-tar' | 'import-raw' | 'import-fs'): MethodHandler => async (call) => {
    const [fd, local, force, readOnly] = call.body as [number, string, boolean, boolean]
    return started(await importImage(tc, { type, fd: ctx.takeFd(call, fd), local, force, readOnly }, await ctx.callerOf(call)))
  }
  const exporting = (type: 'export-tar' | 'export-raw'): MethodHandler => async (call) => {
    const [local, fd, format] = call.body as [string, number, string]
    return started(await exportImage(tc, { type, local, fd: ctx.takeFd(call, fd), format }, await ctx.callerOf(call)))
  }
  const pulling = (type: 'pull-tar' | 'pull-raw'): MethodHandler => async (call) => {
    const [url, local, verify, force] = call.body as [string, string, string, boolean]
    return started(pullImage(tc, { type, url, local, verify, force }, await ctx.callerOf(call)))
  }
  return {
    ImportTar: importing('import-tar'),
    ImportRaw: importing('import-raw'),
    ImportFileSystem: importing('import-fs'),
    ExportTar: exporting('export-tar'),
    ExportRaw: exporting('export-raw'),
    PullTar: pulling('pull-tar'),
    PullRaw: pulling('pull-raw'),
    ListTransfers: async () => ({
      signature: 'a(usssdo)',
      body: [tc.transfers.list().map((t) => [t.id, t.type, t.remote, t.local, t.progress, t.path])],
    }),
    CancelTransfer: async (call) => {
      cancelTransferById(tc, call.body[0] as number, await ctx.callerOf(call))
      return EMPTY_REPLY
    },
  }
}

function transferObject(ctx: Import1Context, t: Transfer): ObjectInterface {
  return {
    description: TRANSFER_INTERFACE,
    property: (name) => {
      switch (name) {
        case 'Id': return t.id
        case 'Local': return t.local
        case 'Remote': return t.remote
        case 'Type': return t.type
        case 'Verify': return t.verify
        case 'Progress': return t.progress
        default: return undefined
      }
    },
    methods: {
      Cancel: async (call) => {
        cancelTransfer(ctx.transfers, t, await ctx.callerOf(call))
        return EMPTY_REPLY
      },
    } satisfies Record<MethodName<typeof TRANSFER_INTERFACE>, MethodHandler>,
  }
}

/** The import1 objects: what a path names, and the signals the registry's events become. */
export class Import1Objects implements Disposable {
  readonly #ctx: Import1Context
  readonly #manager: ObjectInterface
  readonly #subscription: Disposable

  constructor(ctx: Import1Context) {
    this.#ctx = ctx
    this.#manager = { description: IMPORT_MANAGER_INTERFACE, property: () => undefined, methods: managerMethods(ctx) }
    this.#subscription = ctx.transfers.transfers.on({
      transferNew: (t) => ctx.emitSignal(IMPORT1_PATH, IMPORT_MANAGER_INTERFACE_NAME, 'TransferNew', 'uo', [t.id, t.path]),
      transferRemoved: (t, result) => ctx.emitSignal(IMPORT1_PATH, IMPORT_MANAGER_INTERFACE_NAME, 'TransferRemoved', 'uos', [t.id, t.path, result]),
      logMessage: (t, priority, line) => ctx.emitSignal(t.path, TRANSFER_INTERFACE_NAME, 'LogMessage', 'us', [priority, line]),
    })
  }

  /** Our paths: the Manager, the transfer node (its children only when introspected, as sd-bus enumerates) and each transfer. */
  resolve(path: string, introspecting: boolean): Resolved | undefined {
    if (path === IMPORT1_PATH) return { kind: 'object', interfaces: [this.#manager], children: ['transfer'] }
    const transfers = this.#ctx.transfers.transfers
    if (path === TRANSFER_PATH_PREFIX) {
      return { kind: 'fallback', children: introspecting ? transfers.list().map((t) => `_${t.id}`) : [] }
    }
    if (!path.startsWith(`${TRANSFER_PATH_PREFIX}/`)) return undefined
    const id = transferIdOfLabel(path.slice(TRANSFER_PATH_PREFIX.length + 1))
    const t = id === undefined ? undefined : transfers.get(id)
    return t === undefined ? undefined : { kind: 'object', interfaces: [transferObject(this.#ctx, t)], children: [] }
  }

  dispose(): void {
    this.#subscription.dispose()
  }
}
