/**
 * io.systemd.Import on Varlink (newest systemd's importd.c:
 * vl_method_list_transfers(), vl_method_pull()): ListTransfers answers one
 * reply per transfer (NoTransfers when there is none); Pull starts a pull
 * through the same core as D-Bus and, called with `more`, follows it:
 * its id first, then its log lines and progress, then an empty reply, or
 * TransferCancelled / TransferFailed. systemd 252 had no Varlink here.
 * @module
 */

import { pullImage, type TransferContext } from '../../core/transfer-control.ts'
import type { Transfer } from '../../core/transfers.ts'
import { MachinedError } from '../../protocol/errors.ts'
import type { MethodName } from '../../protocol/varlink/idl.ts'
import { IMPORT_ERRORS, IMPORT_INTERFACE } from '../../protocol/varlink/io.systemd.Import.ts'
import { SERVICE_ERRORS } from '../../protocol/varlink/org.varlink.service.ts'
import { invalidParameter, VarlinkError } from './errors.ts'
import type { InterfaceBinding, MethodHandler, VarlinkCall } from './server.ts'

/** make_transfer_json(): types with underscores, and null for a remote or local the transfer has none of. */
function encodeTransfer(t: Transfer): Record<string, unknown> {
  return {
    id: t.id,
    type: t.type.replace('-', '_'),
    remote: t.remote === '' ? null : t.remote,
    local: t.local === '' ? null : t.local,
    class: 'machine',
    percent: t.progress,
  }
}

/** Follows transfer `t` for a Pull called with `more`: every log line and progress change, then its end. */
function follow(ctx: TransferContext, t: Transfer, call: VarlinkCall): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const subscription = ctx.transfers.on({
      logMessage: (x, priority, message) => { if (x === t) call.notify({ log: { message, priority } }) },
      progress: (x) => { if (x === t) call.notify({ progress: x.progress }) },
      transferRemoved: (x, result) => {
        if (x !== t) return
        subscription.dispose()
        if (result === 'done') resolve({})
        else reject(new VarlinkError(result === 'canceled' ? IMPORT_ERRORS.TRANSFER_CANCELLED : IMPORT_ERRORS.TRANSFER_FAILED))
      },
    })
  })
}

export function importBinding(ctx: TransferContext): InterfaceBinding {
  const handlers = {
    ListTransfers: async (call) => {
      if (!call.more) throw new VarlinkError(SERVICE_ERRORS.EXPECTED_MORE)
      const wanted = call.parameters.class as string | null | undefined
      const list = ctx.transfers.list().filter(() => wanted === undefined || wanted === null || wanted === 'machine')
      if (list.length === 0) throw new VarlinkError(IMPORT_ERRORS.NO_TRANSFERS)
      for (const t of list.slice(0, -1)) call.notify(encodeTransfer(t))
      return encodeTransfer(list.at(-1)!)
    },
    Pull: async (call) => {
      const p = call.parameters
      // Only machine images have a pool here; portable services and extensions are not machined's.
      if (p.class !== 'machine') throw invalidParameter('class')
      let t: Transfer
      try {
        t = pullImage(ctx, {
          type: p.type === 'tar' ? 'pull-tar' : 'pull-raw',
          url: p.remote as string,
          local: typeof p.local === 'string' ? p.local : '',
          verify: typeof p.verify === 'string' ? p.verify : '',
          force: p.force === true,
          readOnly: p.readOnly === true,
        }, { uid: call.peer.uid, pid: call.peer.pid })
      } catch (err) {
        if (err instanceof MachinedError && err.code === 'TRANSFER_IN_PROGRESS') throw new VarlinkError(IMPORT_ERRORS.ALREADY_IN_PROGRESS, { remote: p.remote })
        throw err
      }
      if (!call.more) return { id: t.id }
      call.notify({ id: t.id })
      return follow(ctx, t, call)
    },
  } satisfies Record<MethodName<typeof IMPORT_INTERFACE>, MethodHandler>
  return { description: IMPORT_INTERFACE, handlers }
}
