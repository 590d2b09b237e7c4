/**
 * Every source the console shows, behind one object: the page's event
 * stream, the JSON API and /metrics ask the hub, which asks each source.
 * This host's, and with --fleet-etcd one per other host of the fleet
 * (fleet-source.ts), added and removed as hosts come and go.
 * @module
 */

import { NoSuchMachineError } from '../protocol/errors.ts'
import { machineKey, type EventPayloads, type EventType, type MachineRow, type Sample, type SampleHistory } from './api-types.ts'
import type { MachineMetrics, MachineSource, SourceEvent } from './source.ts'

export type HubListener = <T extends EventType>(type: T, payload: EventPayloads[T]) => void

export class SourceHub {
  readonly #sources = new Map<string, { source: MachineSource; unsubscribe: () => void }>()
  readonly #listeners = new Set<HubListener>()

  add(source: MachineSource): void {
    if (this.#sources.has(source.host)) throw new Error(`a source for host '${source.host}' is there already`)
    const unsubscribe = source.subscribe((e) => this.#forward(source.host, e))
    this.#sources.set(source.host, { source, unsubscribe })
  }

  /** Drops the source of `host`, telling listeners its machines are gone; the caller closes it. */
  remove(host: string): void {
    const entry = this.#sources.get(host)
    if (entry === undefined) return
    entry.unsubscribe()
    this.#sources.delete(host)
    for (const m of entry.source.machines()) this.#emit('removed', { host, name: m.name })
  }

  /** The source of `host`; NoSuchMachineError when the console knows no such host. */
  source(host: string): MachineSource {
    const entry = this.#sources.get(host)
    if (entry === undefined) throw new NoSuchMachineError(`No host '${host}' known`)
    return entry.source
  }

  machines(): MachineRow[] {
    return [...this.#sources.values()].flatMap((s) => s.source.machines())
  }

  /** What a new page gets first: every machine and its samples so far. */
  snapshot(): EventPayloads['snapshot'] {
    const history: Record<string, SampleHistory> = {}
    const machines = this.machines()
    for (const m of machines) {
      const h = this.#sources.get(m.host)?.source.history(m.name)
      if (h !== undefined) history[machineKey(m.host, m.name)] = h
    }
    return { machines, history }
  }

  async readMetrics(): Promise<MachineMetrics[]> {
    const all = await Promise.all([...this.#sources.values()].map((s) => s.source.readMetrics()))
    return all.flat()
  }

  subscribe(listener: HubListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  #emit<T extends EventType>(type: T, payload: EventPayloads[T]): void {
    for (const l of this.#listeners) l(type, payload)
  }

  #forward(host: string, e: SourceEvent): void {
    switch (e.type) {
      case 'new': this.#emit('new', e.machine); break
      case 'changed': this.#emit('changed', e.machine); break
      case 'removed': this.#emit('removed', { host: e.host, name: e.name }); break
      case 'samples': {
        const rows: Record<string, Sample> = {}
        for (const [name, s] of e.rows) rows[machineKey(host, name)] = s
        this.#emit('samples', { t: e.t, rows })
        break
      }
    }
  }

  close(): void {
    for (const { source, unsubscribe } of this.#sources.values()) {
      unsubscribe()
      source.close()
    }
    this.#sources.clear()
    this.#listeners.clear()
  }
}
