/**
 * What every running transfer shares (the part of systemd-import,
 * systemd-export and systemd-pull that is the same for all of them): its
 * log, which goes out line by line as LogMessage with a syslog priority;
 * the child processes it runs, killed when it is cancelled; and the
 * temporary files it made, removed whenever it does not finish. A
 * failure is logged once, where it happens, and then travels up as a
 * TransferFailed.
 * @module
 */

import type { ChildProcess } from 'node:child_process'
import { LOG_PRIORITY, type TransferSink } from '../core/transfers.ts'

/** A transfer failed and has said why in its log already. */
export class TransferFailed extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TransferFailed'
  }
}

export class JobContext {
  readonly sink: TransferSink
  readonly #processes = new Set<ChildProcess>()
  readonly #cleanups: (() => Promise<void>)[] = []
  readonly #abort = new AbortController()
  #hard = false

  constructor(sink: TransferSink) {
    this.sink = sink
  }

  info(line: string): void {
    this.sink.log(LOG_PRIORITY.info, line)
  }

  notice(line: string): void {
    this.sink.log(LOG_PRIORITY.notice, line)
  }

  warning(line: string): void {
    this.sink.log(LOG_PRIORITY.warning, line)
  }

  debug(line: string): void {
    this.sink.log(LOG_PRIORITY.debug, line)
  }

  error(line: string): void {
    this.sink.log(LOG_PRIORITY.err, line)
  }

  /** log_error() and give up: the TransferFailed to throw. */
  fail(line: string): TransferFailed {
    this.sink.log(LOG_PRIORITY.err, line)
    return new TransferFailed(line)
  }

  /** Aborted when the transfer is cancelled (fetch() and timers listen to it). */
  get signal(): AbortSignal {
    return this.#abort.signal
  }

  get cancelled(): boolean {
    return this.#abort.signal.aborted
  }

  /** Throws (after saying so, as the tools' SIGTERM handler does) once the transfer is cancelled. */
  checkCancelled(): void {
    if (this.cancelled) throw new TransferFailed('Transfer aborted.')
  }

  /** Cancel(): "Transfer aborted." (the tools' SIGTERM handler says so), then abort(). */
  cancel(hard: boolean): void {
    if (!this.cancelled) this.notice('Transfer aborted.')
    this.abort(hard)
  }

  /** Stops everything: SIGTERM (SIGKILL once `hard`) to every process the job runs, and the signal aborted. */
  abort(hard: boolean): void {
    this.#abort.abort()
    this.#hard ||= hard
    for (const p of this.#processes) p.kill(this.#hard ? 'SIGKILL' : 'SIGTERM')
  }

  /** A child process of this job: it is killed if the job is cancelled. */
  adopt(child: ChildProcess): void {
    if (this.cancelled) child.kill(this.#hard ? 'SIGKILL' : 'SIGTERM')
    this.#processes.add(child)
    child.once('exit', () => this.#processes.delete(child))
  }

  /** Something to undo unless the job finishes (a temporary tree or file), newest first. */
  onFailure(cleanup: () => Promise<void>): { forget(): void } {
    this.#cleanups.push(cleanup)
    return { forget: () => { const i = this.#cleanups.indexOf(cleanup); if (i >= 0) this.#cleanups.splice(i, 1) } }
  }

  /**
   * Kills what still runs (downloads too) and waits for it to go; when the
   * job did not finish, undoes what is left to undo (a finished job's
   * temporary names are its image's now).
   */
  async cleanUp(finished: boolean): Promise<void> {
    this.#abort.abort()
    const running = [...this.#processes]
    for (const p of running) p.kill('SIGKILL')
    const alive = running.filter((p) => p.exitCode === null && p.signalCode === null)
    await Promise.all(alive.map((p) => new Promise((r) => p.once('exit', r))))
    const cleanups = this.#cleanups.splice(0).reverse()
    if (!finished) for (const c of cleanups) await c().catch(() => undefined)
  }
}
