/**
 * The transfer registry (systemd-importd's Manager and Transfer, importd.c):
 * transfers by id, at most TRANSFERS_MAX at once, ids counting up from 1,
 * each one a job the Transferer port runs (backends/transfer-runner.ts:
 * tar, the decompressors, the download, all off the daemon's loop). It
 * passes on what a job reports (log lines, progress) and says when a
 * transfer comes and goes; the transports turn that into TransferNew,
 * LogMessage and TransferRemoved.
 * @module
 */

import { errnoFailure } from '../protocol/errno.ts'
import {
  PROGRESS_UNKNOWN, TRANSFERS_MAX, transferObjectPath, type TransferRecord, type TransferResult, type TransferType,
  type VerifyMode,
} from '../protocol/transfer.ts'
import type { Disposable, Log } from './ports.ts'

/** What a transfer is to do, as its method asked; fds are the job's from the moment it is started. */
export type TransferSpec =
  | { readonly type: 'import-tar' | 'import-raw' | 'import-fs'; readonly fd: number; readonly local: string; readonly force: boolean; readonly readOnly: boolean }
  /** `format`: '' for uncompressed, else one of EXPORT_FORMATS (the job refuses anything else, as systemd-export does). */
  | { readonly type: 'export-tar' | 'export-raw'; readonly fd: number; readonly local: string; readonly format: string }
  | {
    readonly type: 'pull-tar' | 'pull-raw'; readonly url: string; readonly local: string | undefined; readonly verify: VerifyMode
    readonly force: boolean; readonly readOnly: boolean
  }

/** syslog priorities the log lines carry (LOG_ERR … LOG_DEBUG). */
export const LOG_PRIORITY = { err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const

/** Where a running job reports to. */
export interface TransferSink {
  /** One line for LogMessage (and the daemon's log), with its syslog priority. */
  log(priority: number, line: string): void
  /** 0…100 percent, once known. */
  progress(percent: number): void
}

/** A job under way. */
export interface TransferJob {
  /** Asks the job to stop (SIGTERM to its processes; `hard`: SIGKILL). It then ends as failed. */
  cancel(hard: boolean): void
  /** Resolves when the job succeeded, rejects when it failed or was cancelled (the reasons already logged to the sink). */
  readonly done: Promise<void>
}

/** The port that runs transfers (backends/transfer-runner.ts). */
export interface Transferer {
  start(spec: TransferSpec, sink: TransferSink): TransferJob
}

export class Transfer {
  readonly id: number
  readonly type: TransferType
  readonly remote: string
  readonly local: string
  /** '' for anything but a pull (the verify mode is _IMPORT_VERIFY_INVALID there). */
  readonly verify: VerifyMode | ''
  /** 0…100, undefined while unknown. */
  percent: number | undefined
  /** How often Cancel was asked (systemd: SIGTERM three times, then SIGKILL). */
  canceled = 0
  job: TransferJob | undefined

  constructor(id: number, spec: TransferSpec) {
    this.id = id
    this.type = spec.type
    this.local = spec.local ?? ''
    this.remote = 'url' in spec ? spec.url : ''
    this.verify = 'verify' in spec ? spec.verify : ''
  }

  get path(): string {
    return transferObjectPath(this.id)
  }

  /** transfer_percent_as_double(): 0…1, or -DBL_MAX. */
  get progress(): number {
    return this.percent === undefined ? PROGRESS_UNKNOWN : this.percent / 100
  }

  get record(): TransferRecord {
    return { id: this.id, type: this.type, remote: this.remote, local: this.local, progress: this.progress, path: this.path }
  }
}

export interface TransferEvents {
  transferNew?(t: Transfer): void
  transferRemoved?(t: Transfer, result: TransferResult): void
  logMessage?(t: Transfer, priority: number, line: string): void
  progress?(t: Transfer): void
}

export interface TransfersOptions {
  readonly runner: Transferer
  readonly log: Log
  readonly max?: number
}

export class Transfers {
  readonly #runner: Transferer
  readonly #log: Log
  readonly #max: number
  readonly #transfers = new Map<number, Transfer>()
  readonly #listeners: TransferEvents[] = []
  #lastId = 0

  constructor(options: TransfersOptions) {
    this.#runner = options.runner
    this.#log = options.log
    this.#max = options.max ?? TRANSFERS_MAX
  }

  on(listener: TransferEvents): Disposable {
    this.#listeners.push(listener)
    return { dispose: () => { const i = this.#listeners.indexOf(listener); if (i >= 0) this.#listeners.splice(i, 1) } }
  }

  get(id: number): Transfer | undefined {
    return this.#transfers.get(id)
  }

  list(): Transfer[] {
    return [...this.#transfers.values()]
  }

  /** Transfers under way now. */
  get size(): number {
    return this.#transfers.size
  }

  /** manager_find(): a transfer of this type from this remote. */
  findByRemote(type: TransferType, remote: string): Transfer | undefined {
    return this.list().find((t) => t.type === type && t.remote === remote)
  }

  /** transfer_new(): E2BIG once TRANSFERS_MAX run, as systemd answers. */
  checkRoom(): void {
    if (this.#transfers.size >= this.#max) throw errnoFailure('E2BIG', 'Argument list too long')
  }

  /**
   * Starts a transfer (transfer_new() and transfer_start()): the job runs,
   * TransferNew goes out, and once the job ends the transfer goes with
   * TransferRemoved saying how it ended.
   */
  start(spec: TransferSpec): Transfer {
    this.checkRoom()
    const t = new Transfer(++this.#lastId, spec)
    this.#transfers.set(t.id, t)
    t.job = this.#runner.start(spec, {
      log: (priority, line) => {
        this.#log[priority <= LOG_PRIORITY.err ? 'error' : priority === LOG_PRIORITY.warning ? 'warn' : priority === LOG_PRIORITY.debug ? 'debug' : 'info'](
          `(transfer${t.id}) ${line}`)
        for (const l of this.#listeners) l.logMessage?.(t, priority, line)
      },
      progress: (percent) => {
        if (percent === t.percent) return
        t.percent = percent
        for (const l of this.#listeners) l.progress?.(t)
      },
    })
    for (const l of this.#listeners) l.transferNew?.(t)
    t.job.done.then(
      () => this.#finish(t, 'done'),
      () => this.#finish(t, t.canceled > 0 ? 'canceled' : 'failed'),
    )
    return t
  }

  #finish(t: Transfer, result: TransferResult): void {
    // Once only: a transfer the daemon dropped when stopping is gone already.
    if (!this.#transfers.delete(t.id)) return
    if (result === 'failed') this.#log.error(`Transfer ${t.id} failed.`)
    for (const l of this.#listeners) l.transferRemoved?.(t, result)
  }

  /** transfer_cancel(): SIGTERM the first three times, SIGKILL after. */
  cancel(t: Transfer): void {
    t.job?.cancel(t.canceled >= 3)
    t.canceled++
  }

  /**
   * The daemon stops: every job is killed, as importd's transfer_unref()
   * does (sigkill_wait()); unlike importd, each goes with TransferRemoved
   * ("canceled"), so a machinectl waiting for it does not wait forever.
   */
  dispose(): void {
    for (const t of [...this.#transfers.values()]) {
      t.job?.cancel(true)
      t.canceled++
      this.#finish(t, 'canceled')
    }
  }
}
