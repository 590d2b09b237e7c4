/**
 * Where the console's machines come from: the one interface the page, the
 * JSON API and /metrics read through. LocalSource (local-source.ts) serves
 * this host's machined through the client library; a fleet source can
 * serve another host's machines the same way (its `host` is then that
 * host's name, and what it cannot do, such as terminals, it refuses with
 * NotSupportedError).
 * @module
 */

import type { MachineAction, MachineRow, MachineStatus, Sample, SampleHistory, TerminalMode } from './api-types.ts'

/** What a source tells its listeners. */
export type SourceEvent =
  | { readonly type: 'new' | 'changed'; readonly machine: MachineRow }
  | { readonly type: 'removed'; readonly host: string; readonly name: string }
  /** One sample of every machine of the source, by name. */
  | { readonly type: 'samples'; readonly t: number; readonly rows: ReadonlyMap<string, Sample> }

/** One machine's figures for /metrics, read at scrape time; undefined where the host does not account for it. */
export interface MachineMetrics {
  readonly machine: MachineRow
  readonly tasks: number | undefined
  readonly cpuSeconds: number | undefined
  readonly memoryBytes: number | undefined
  readonly ioReadBytes: number | undefined
  readonly ioWriteBytes: number | undefined
}

/** A terminal in a machine: bytes both ways, a size, and an end. */
export interface TerminalSession {
  write(data: Buffer): void
  resize(columns: number, rows: number): void
  /** Called with output; then once with `null` when the session ended. One listener: a later one replaces it. */
  onData(listener: (data: Buffer | null) => void): void
  /** Resolves when the session has ended. */
  readonly ended: Promise<void>
  /** Ends the session: closes the pty, whose hangup ends what runs on it. */
  close(): void
}

export interface MachineSource {
  /** '' for this host. */
  readonly host: string
  /** Every machine known now. */
  machines(): readonly MachineRow[]
  /** The samples kept for the page's sparklines, by machine name. */
  history(name: string): SampleHistory | undefined
  /** Registers a listener; returns its removal. */
  subscribe(listener: (event: SourceEvent) => void): () => void
  /** The figures of every machine, read now. */
  readMetrics(): Promise<MachineMetrics[]>
  /** `mctl status`'s facts; rejects with the daemon's error (NoSuchMachineError, …). */
  status(name: string): Promise<MachineStatus>
  act(name: string, action: MachineAction, options?: { signal?: number; whom?: 'leader' | 'all' }): Promise<void>
  openTerminal(name: string, mode: TerminalMode): Promise<TerminalSession>
  close(): void
}
