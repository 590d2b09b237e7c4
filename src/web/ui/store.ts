/**
 * The page's copy of the machine list, kept current by the server's event
 * stream (GET /api/events): a snapshot first, then only what changes. The
 * list is never re-read; a new stream (after a reconnect) starts from a
 * new snapshot.
 * @module
 */

import { HISTORY_LENGTH, machineKey, type EventPayloads, type MachineRow, type Sample } from '../api-types.ts'

export interface Entry {
  readonly key: string
  row: MachineRow
  readonly t: number[]
  readonly cpu: (number | null)[]
  readonly memory: (number | null)[]
  latest: Sample | null
}

export type StoreListener = {
  /** Machines came, went or changed. */
  list?: () => void
  /** A new sample of every machine. */
  samples?: () => void
  /** The stream's state: 'live', 'reconnecting', or 'unauthorized' (the login is gone). */
  connection?: (state: 'live' | 'reconnecting' | 'unauthorized') => void
  /** A machine went away. */
  removed?: (host: string, name: string) => void
}

function push<T>(list: T[], value: T): void {
  list.push(value)
  if (list.length > HISTORY_LENGTH) list.shift()
}

export class MachineStore {
  readonly entries = new Map<string, Entry>()
  readonly #listeners = new Set<StoreListener>()
  #source: EventSource | undefined

  listen(l: StoreListener): () => void {
    this.#listeners.add(l)
    return () => this.#listeners.delete(l)
  }

  get(host: string, name: string): Entry | undefined {
    return this.entries.get(machineKey(host, name))
  }

  /** Opens the event stream. */
  connect(): void {
    const source = new EventSource('/api/events')
    this.#source = source
    const on = <T extends keyof EventPayloads>(type: T, f: (p: EventPayloads[T]) => void): void => {
      source.addEventListener(type, (e) => f(JSON.parse((e as MessageEvent<string>).data) as EventPayloads[T]))
    }
    on('snapshot', (p) => this.#snapshot(p))
    on('new', (row) => this.#upsert(row))
    on('changed', (row) => this.#upsert(row))
    on('removed', (p) => this.#remove(p.host, p.name))
    on('samples', (p) => this.#samples(p))
    source.addEventListener('open', () => this.#emitConnection('live'))
    source.addEventListener('error', () => {
      // EventSource retries by itself after a network error; a refused stream (401) it gives up on.
      if (source.readyState === EventSource.CLOSED) void this.#checkLogin()
      else this.#emitConnection('reconnecting')
    })
  }

  async #checkLogin(): Promise<void> {
    const r = await fetch('/api/machines', { method: 'HEAD' }).catch(() => undefined)
    if (r?.status === 401) { this.#emitConnection('unauthorized'); return }
    this.#emitConnection('reconnecting')
    setTimeout(() => this.connect(), 2000)
  }

  #emitConnection(state: 'live' | 'reconnecting' | 'unauthorized'): void {
    for (const l of this.#listeners) l.connection?.(state)
  }

  #snapshot(p: EventPayloads['snapshot']): void {
    const gone = new Set(this.entries.keys())
    for (const row of p.machines) {
      const key = machineKey(row.host, row.name)
      gone.delete(key)
      const h = p.history[key]
      const entry: Entry = { key, row, t: [...(h?.t ?? [])], cpu: [...(h?.cpu ?? [])], memory: [...(h?.memory ?? [])], latest: null }
      const last = (h?.t.length ?? 0) - 1
      if (h !== undefined && last >= 0) entry.latest = { cpu: h.cpu[last] ?? null, memory: h.memory[last] ?? null, tasks: h.tasks[last] ?? null }
      this.entries.set(key, entry)
    }
    for (const key of gone) {
      const e = this.entries.get(key)
      this.entries.delete(key)
      if (e !== undefined) for (const l of this.#listeners) l.removed?.(e.row.host, e.row.name)
    }
    for (const l of this.#listeners) l.list?.()
  }

  #upsert(row: MachineRow): void {
    const key = machineKey(row.host, row.name)
    const e = this.entries.get(key)
    if (e === undefined) this.entries.set(key, { key, row, t: [], cpu: [], memory: [], latest: null })
    else e.row = row
    for (const l of this.#listeners) l.list?.()
  }

  #remove(host: string, name: string): void {
    if (!this.entries.delete(machineKey(host, name))) return
    for (const l of this.#listeners) {
      l.removed?.(host, name)
      l.list?.()
    }
  }

  #samples(p: EventPayloads['samples']): void {
    for (const [key, s] of Object.entries(p.rows)) {
      const e = this.entries.get(key)
      if (e === undefined) continue
      push(e.t, p.t)
      push(e.cpu, s.cpu)
      push(e.memory, s.memory)
      e.latest = s
    }
    for (const l of this.#listeners) l.samples?.()
  }

  close(): void {
    this.#source?.close()
  }
}
