/**
 * A Transferer port whose jobs the test drives: each started job waits
 * until the test says how it ends, and records how it was cancelled.
 * @module
 */

import type { TransferJob, TransferSink, TransferSpec, Transferer } from '../../src/core/transfers.ts'

export interface FakeJob {
  readonly spec: TransferSpec
  readonly sink: TransferSink
  /** Each cancel() asked for, true where it was hard (SIGKILL). */
  readonly cancels: boolean[]
  succeed(): void
  fail(): void
}

export class FakeTransferer implements Transferer {
  readonly jobs: FakeJob[] = []

  start(spec: TransferSpec, sink: TransferSink): TransferJob {
    let succeed: () => void = () => undefined
    let fail: () => void = () => undefined
    const done = new Promise<void>((resolve, reject) => { succeed = resolve; fail = () => reject(new Error('failed')) })
    const cancels: boolean[] = []
    this.jobs.push({ spec, sink, cancels, succeed, fail })
    return { cancel: (hard) => cancels.push(hard), done }
  }
}
