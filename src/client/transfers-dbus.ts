/**
 * Transfers over D-Bus (org.freedesktop.import1), the calls machinectl
 * makes: each started transfer gets a connection of its own, which
 * passes the fd and listens for the transfer's LogMessage and
 * TransferRemoved from before the call on (machinectl's
 * transfer_image_common()), so nothing the transfer says is missed
 * however quickly it ends.
 * @module
 */

import { IMPORT_MANAGER_INTERFACE_NAME, TRANSFER_INTERFACE_NAME } from '../protocol/dbus/org.freedesktop.import1.ts'
import { IMPORT1_BUS_NAME, IMPORT1_PATH, PROGRESS_UNKNOWN, type TransferRecord, type TransferResult, type TransferType } from '../protocol/transfer.ts'
import { BusConnection, DBusError, type BusSignal, type Variant } from '../wire/dbus/bus.ts'
import { fromDbusError } from './errors.ts'
import type { ImportOptions, PullOptions, StartedTransfer, TransferClient, TransferEvent } from './transfer-types.ts'
import { EventQueue } from './values.ts'

const IMPORT_METHODS = { tar: 'ImportTar', raw: 'ImportRaw', fs: 'ImportFileSystem' } as const

async function call(bus: BusConnection, member: string, signature: string, body: readonly unknown[], path = IMPORT1_PATH, iface = IMPORT_MANAGER_INTERFACE_NAME): Promise<unknown[]> {
  try {
    return await bus.call(IMPORT1_BUS_NAME, path, iface, member, signature, body)
  } catch (err) {
    if (err instanceof DBusError) throw fromDbusError(err.type, err.message)
    throw err
  }
}

export class DbusTransferClient implements TransferClient {
  readonly #address: string
  readonly #bus: () => Promise<BusConnection>

  /** `bus`: a connection for the plain calls; transfers get one of their own on `address`. */
  constructor(address: string, bus: () => Promise<BusConnection>) {
    this.#address = address
    this.#bus = bus
  }

  async list(): Promise<TransferRecord[]> {
    const [rows] = await call(await this.#bus(), 'ListTransfers', '', [])
    return (rows as [number, TransferType, string, string, number, string][]).map(([id, type, remote, local, progress, path]) => ({ id, type, remote, local, progress, path }))
  }

  async cancel(id: number): Promise<void> {
    await call(await this.#bus(), 'CancelTransfer', 'u', [id])
  }

  importImage(kind: 'tar' | 'raw' | 'fs', fd: number, local: string, options: ImportOptions = {}): Promise<StartedTransfer> {
    return this.#start(IMPORT_METHODS[kind], 'hsbb', [fd, local, options.force === true, options.readOnly === true])
  }

  exportImage(kind: 'tar' | 'raw', local: string, fd: number, format = ''): Promise<StartedTransfer> {
    return this.#start(kind === 'tar' ? 'ExportTar' : 'ExportRaw', 'shs', [local, fd, format])
  }

  pull(kind: 'tar' | 'raw', url: string, local: string, options: PullOptions = {}): Promise<StartedTransfer> {
    return this.#start(kind === 'tar' ? 'PullTar' : 'PullRaw', 'sssb', [url, local, options.verify ?? 'signature', options.force === true])
  }

  async #start(method: string, signature: string, body: readonly unknown[]): Promise<StartedTransfer> {
    const bus = await BusConnection.connect(this.#address, { watchNameOwners: false, unixFd: true })
    let path: string | undefined
    const early: BusSignal[] = []
    const events = new EventQueue<TransferEvent>(() => undefined)
    let settle: (r: TransferResult) => void = () => undefined
    let fail: (err: Error) => void = () => undefined
    const result = new Promise<TransferResult>((resolve, reject) => { settle = resolve; fail = reject })
    // Whoever does not wait for the end must not see an unhandled rejection when following stops.
    result.catch(() => undefined)
    const handle = (s: BusSignal): void => {
      if (s.member === 'LogMessage' && s.interface === TRANSFER_INTERFACE_NAME && s.path === path) {
        events.push({ type: 'log', priority: s.body[0] as number, line: s.body[1] as string })
      } else if (s.member === 'TransferRemoved' && s.interface === IMPORT_MANAGER_INTERFACE_NAME && s.path === IMPORT1_PATH && s.body[1] === path) {
        settle(s.body[2] as TransferResult)
        void events.return()
      }
    }
    const onSignal = (s: BusSignal): void => { if (path === undefined) early.push(s); else handle(s) }
    bus.onClose((err) => { fail(err instanceof Error ? err : new Error(String(err))); void events.return() })
    try {
      // One rule for both signals: every handler sees every signal, so two rules would bring each one twice.
      await bus.subscribe(`type='signal',sender='${IMPORT1_BUS_NAME}'`, onSignal)
      const [id, transferPath] = await call(bus, method, signature, body)
      path = transferPath as string
      for (const s of early.splice(0)) handle(s)
      return {
        id: id as number,
        events,
        result,
        progress: async () => {
          const [v] = await call(bus, 'Get', 'ss', [TRANSFER_INTERFACE_NAME, 'Progress'], path, 'org.freedesktop.DBus.Properties').catch(() => [undefined])
          const value = (v as Variant | undefined)?.value
          return typeof value === 'number' && value !== PROGRESS_UNKNOWN && value >= 0 ? value : undefined
        },
        cancel: async () => { await call(bus, 'CancelTransfer', 'u', [id]) },
        close: () => {
          fail(new Error('No longer followed'))
          void events.return()
          bus.close()
        },
      }
    } catch (err) {
      bus.close()
      throw err
    }
  }
}
