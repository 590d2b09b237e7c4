/**
 * Transfers over Varlink: io.systemd.Import (newest systemd's, on
 * /run/systemd/io.systemd.Import) lists transfers and pulls, following a
 * pull with `more` (its id, then its log lines and progress, then its
 * end). It has no imports, exports or cancelling: those go over D-Bus.
 * @module
 */

import { IMPORT_ERRORS, IMPORT_SOCKET_PATH } from '../protocol/varlink/io.systemd.Import.ts'
import type { TransferRecord, TransferResult, TransferType } from '../protocol/transfer.ts'
import { transferObjectPath } from '../protocol/transfer.ts'
import { TransferInProgressError } from '../protocol/errors.ts'
import { fromVarlinkError } from './errors.ts'
import type { ImportOptions, PullOptions, StartedTransfer, TransferClient, TransferEvent } from './transfer-types.ts'
import { EventQueue } from './values.ts'
import { VarlinkConnection, VarlinkReplyError } from './varlink-connection.ts'

const describe = (): string => 'Transfer failed'

export class VarlinkTransferClient implements TransferClient {
  readonly #socket: string
  readonly #dbus: () => Promise<TransferClient>

  /** `dbus`: where what io.systemd.Import cannot do goes. */
  constructor(dbus: () => Promise<TransferClient>, socket = IMPORT_SOCKET_PATH) {
    this.#socket = socket
    this.#dbus = dbus
  }

  async list(): Promise<TransferRecord[]> {
    const conn = await VarlinkConnection.connect(this.#socket)
    try {
      const rows = await conn.callMore('io.systemd.Import.ListTransfers', {})
      return rows.map((r) => ({
        id: r.id as number, type: (r.type as string).replace('_', '-') as TransferType, remote: (r.remote as string | null) ?? '',
        local: (r.local as string | null) ?? '', progress: r.percent as number, path: transferObjectPath(r.id as number),
      }))
    } catch (err) {
      if (err instanceof VarlinkReplyError && err.error === IMPORT_ERRORS.NO_TRANSFERS) return []
      if (err instanceof VarlinkReplyError) throw fromVarlinkError(err.error, err.parameters, describe)
      throw err
    } finally {
      conn.close()
    }
  }

  async cancel(id: number): Promise<void> {
    await (await this.#dbus()).cancel(id)
  }

  async importImage(kind: 'tar' | 'raw' | 'fs', fd: number, local: string, options?: ImportOptions): Promise<StartedTransfer> {
    return (await this.#dbus()).importImage(kind, fd, local, options)
  }

  async exportImage(kind: 'tar' | 'raw', local: string, fd: number, format?: string): Promise<StartedTransfer> {
    return (await this.#dbus()).exportImage(kind, local, fd, format)
  }

  async pull(kind: 'tar' | 'raw', url: string, local: string, options: PullOptions = {}): Promise<StartedTransfer> {
    const conn = await VarlinkConnection.connect(this.#socket)
    const events = new EventQueue<TransferEvent>(() => undefined)
    let progress: number | undefined
    let started: (id: number) => void = () => undefined
    let refused: (err: Error) => void = () => undefined
    const id = new Promise<number>((resolve, reject) => { started = resolve; refused = reject })
    const parameters: Record<string, unknown> = { remote: url, type: kind, class: 'machine', verify: options.verify ?? 'signature', force: options.force === true, readOnly: options.readOnly === true }
    if (local !== '') parameters.local = local
    const result: Promise<TransferResult> = conn.callStream('io.systemd.Import.Pull', parameters, (p) => {
      if (typeof p.id === 'number') started(p.id)
      if (typeof p.progress === 'number') { progress = p.progress; events.push({ type: 'progress', progress: p.progress }) }
      const log = p.log as { message?: string; priority?: number } | undefined
      if (log !== undefined && typeof log.message === 'string') events.push({ type: 'log', priority: log.priority ?? 6, line: log.message })
    }).then(() => 'done' as const, (err: unknown) => {
      if (err instanceof VarlinkReplyError && err.error === IMPORT_ERRORS.TRANSFER_CANCELLED) return 'canceled' as const
      if (err instanceof VarlinkReplyError && err.error === IMPORT_ERRORS.TRANSFER_FAILED) return 'failed' as const
      const mapped = err instanceof VarlinkReplyError
        ? (err.error === IMPORT_ERRORS.ALREADY_IN_PROGRESS ? new TransferInProgressError(url) : fromVarlinkError(err.error, err.parameters, describe))
        : err
      refused(mapped as Error)
      throw mapped
    }).finally(() => { void events.return(); conn.close() })
    result.catch(() => undefined)
    return {
      id: await id,
      events,
      result,
      progress: async () => progress,
      cancel: async () => { await this.cancel(await id) },
      close: () => conn.close(),
    }
  }
}
