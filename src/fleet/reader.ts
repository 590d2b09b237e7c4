/**
 * Reading the fleet. `readFleet` is one consistent range read of the whole
 * prefix (what `mctl list --fleet` does). `FleetWatch` is a live view for
 * long-running readers such as a web console: one range read, then one
 * watch on the whole prefix from the revision after it (never a watch per
 * host or per machine: CoreOS fleet's lesson). If the watch breaks or
 * etcd compacted past it, the view is read afresh, after a jittered
 * backoff, and the consumer is told the view changed.
 * @module
 */

import type { IWatchResponse } from 'etcd3'
import { Backoff, OutageLog, type BackoffOptions, type FleetLog } from './backoff.ts'
import { FLEET_PREFIX, prefixEnd } from './layout.ts'
import { rangePrefix, type EtcdClients } from './store.ts'
import { FleetView } from './view.ts'

export interface FleetSnapshot {
  readonly view: FleetView
  /** The etcd revision the view is as of. */
  readonly revision: string
}

export async function readFleet(etcd: EtcdClients): Promise<FleetSnapshot> {
  const { kvs, revision } = await rangePrefix(etcd, FLEET_PREFIX)
  const view = new FleetView()
  for (const kv of kvs) view.apply(kv.key, kv.value)
  return { view, revision }
}

export interface FleetWatchOptions {
  /** After the first read, after every batch of events (one or more whole revisions), and after every re-read. */
  readonly onChange: (view: FleetView, revision: string) => void
  readonly log?: FleetLog
  readonly backoff?: BackoffOptions
}

const QUIET: FleetLog = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined }

/** A live view of the fleet on one prefix watch; `close()` ends it. */
export class FleetWatch {
  readonly #etcd: EtcdClients
  readonly #o: FleetWatchOptions
  readonly #backoff: Backoff
  readonly #outage: OutageLog
  #view = new FleetView()
  #revision = '0'
  #closed = false
  #cancel: (() => void) | undefined
  #sleeping: (() => void) | undefined
  readonly #done: Promise<void>
  #ready: Promise<void>
  #markReady: () => void = () => undefined

  constructor(etcd: EtcdClients, options: FleetWatchOptions) {
    this.#etcd = etcd
    this.#o = options
    this.#backoff = new Backoff(options.backoff)
    this.#outage = new OutageLog(options.log ?? QUIET, 'Watching the fleet in etcd')
    this.#ready = new Promise((resolve) => { this.#markReady = resolve })
    this.#done = this.#run()
  }

  get view(): FleetView {
    return this.#view
  }

  get revision(): string {
    return this.#revision
  }

  /** Resolves once the first read is in. */
  ready(): Promise<void> {
    return this.#ready
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#cancel?.()
    this.#sleeping?.()
    this.#markReady()
    await this.#done
  }

  /** The consumer's trouble is its own: logged, never the end of the watch. */
  #emit(): void {
    try {
      this.#o.onChange(this.#view, this.#revision)
    } catch (err) {
      (this.#o.log ?? QUIET).error('A fleet watch consumer failed, ignoring', { error: String(err) })
    }
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      try {
        const snapshot = await readFleet(this.#etcd)
        if (this.#closed) break
        this.#view = snapshot.view
        this.#revision = snapshot.revision
        this.#emit()
        this.#markReady()
        this.#outage.recovered()
        this.#backoff.reset()
        await this.#watchFrom(BigInt(snapshot.revision) + 1n)
      } catch (err) {
        if (this.#closed) break
        this.#outage.failed(err)
      }
      if (this.#closed) break
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#backoff.next())
        this.#sleeping = () => { clearTimeout(timer); resolve() }
      })
    }
  }

  /** Applies events until the watch ends; rejects on anything but close(). */
  async #watchFrom(start: bigint): Promise<void> {
    const stream = await this.#etcd.watchClient.watch()
    await new Promise<void>((resolve, reject) => {
      this.#cancel = () => { stream.cancel(); resolve() }
      stream.on('data', (res: IWatchResponse) => {
        if (res.canceled) {
          reject(new Error(res.compact_revision !== '0' ? `etcd compacted the history past revision ${start}` : `the watch was cancelled: ${res.cancel_reason}`))
          return
        }
        if (res.events.length === 0) return
        for (const ev of res.events) this.#view.apply(ev.kv.key, ev.type === 'Delete' ? undefined : ev.kv.value)
        this.#revision = res.events.at(-1)!.kv.mod_revision
        this.#emit()
      })
      stream.on('error', reject)
      stream.on('end', () => reject(new Error('the watch stream ended')))
      stream.write({ create_request: { key: Buffer.from(FLEET_PREFIX), range_end: prefixEnd(FLEET_PREFIX), start_revision: start.toString() } })
    }).finally(() => {
      this.#cancel = undefined
      try { stream.cancel() } catch { /* already gone */ }
    })
  }
}
