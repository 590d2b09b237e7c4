/**
 * Image transfers as the client library offers them (`client.transfers`):
 * imports from an fd, exports to one, pulls from a URL, each a transfer
 * the daemon runs on its own, which the caller may follow (its log lines
 * and how it ended) or leave running. Over D-Bus (org.freedesktop.import1)
 * everything works; over Varlink (io.systemd.Import) only list() and the
 * pulls do, as that interface has nothing else. Errors are the daemon's
 * (InvalidArgsError, TransferInProgressError, NoSuchTransferError, …).
 * @module
 */

import type { TransferRecord, TransferResult, VerifyMode } from '../protocol/transfer.ts'

export type { ExportFormat, TransferRecord, TransferResult, TransferType, VerifyMode } from '../protocol/transfer.ts'

/** What a followed transfer reports as it runs. */
export type TransferEvent =
  | { readonly type: 'log'; readonly priority: number; readonly line: string }
  | { readonly type: 'progress'; readonly progress: number }

/** A transfer just started: its id, what it says, and how it ends. */
export interface StartedTransfer {
  readonly id: number
  /** Its log lines (and progress, where the transport reports it) until it ends. */
  readonly events: AsyncIterable<TransferEvent>
  /** How it ended: done, canceled or failed. */
  readonly result: Promise<TransferResult>
  /** Its Progress now (0…1), or undefined while not known. */
  progress(): Promise<number | undefined>
  /** Asks the daemon to cancel it. */
  cancel(): Promise<void>
  /** Stops following it (it keeps running). */
  close(): void
}

export interface ImportOptions {
  /** Replace an image of the same name (machinectl --force). */
  readonly force?: boolean
  readonly readOnly?: boolean
}

export interface PullOptions {
  /** Default 'signature'. */
  readonly verify?: VerifyMode
  readonly force?: boolean
  /** Varlink only (io.systemd.Import.Pull has it; import1's PullTar has not). */
  readonly readOnly?: boolean
}

export interface TransferClient {
  /** Transfers under way (ListTransfers). */
  list(): Promise<TransferRecord[]>
  /** CancelTransfer(id). */
  cancel(id: number): Promise<void>
  /** `fd` (a tarball or raw image, a regular file or pipe; a directory for 'fs') goes with the call and is closed here. */
  importImage(kind: 'tar' | 'raw' | 'fs', fd: number, local: string, options?: ImportOptions): Promise<StartedTransfer>
  /** `fd` (where to write) goes with the call and is closed here; `format` '' for uncompressed. */
  exportImage(kind: 'tar' | 'raw', local: string, fd: number, format?: string): Promise<StartedTransfer>
  /** `local` '' names the image after the URL. */
  pull(kind: 'tar' | 'raw', url: string, local: string, options?: PullOptions): Promise<StartedTransfer>
}
