/**
 * This host's machines, as machined reports them through the client
 * library: the list follows MachineNew/MachineRemoved (client.watch())
 * rather than re-reading the list, each new machine is looked up once
 * (GetMachine, OS, addresses) and again a few seconds later (a booting
 * guest's OS and addresses appear then), and every machine's cgroup is
 * sampled once a second. If the daemon goes away, the source reconnects
 * and reconciles its list with the daemon's.
 * @module
 */

import type { MachinedClient } from '../client/types.ts'
import type { CgroupLayout } from '../linux/cgroup-layout.ts'
import { LimitsExceededError, NoSuchMachineError } from '../protocol/errors.ts'
import { SIGNAL_POWEROFF, SIGNAL_REBOOT } from '../protocol/signals.ts'
import type { MachineAction, MachineRow, MachineStatus, SampleHistory, TerminalMode } from './api-types.ts'
import { fetchRow, fetchStatus, rowPart, sameRow, type KnownMachine } from './machine-facts.ts'
import { PtyPoller, PtySession } from './pty-session.ts'
import { Sampler } from './sampler.ts'
import type { MachineMetrics, MachineSource, SourceEvent, TerminalSession } from './source.ts'

const SAMPLE_INTERVAL_MS = 1000
const RECHECK_AFTER_MS = 3000
const RECONNECT_MS = 1000
/** Lookups of new machines in flight at once (a resync of thousands). */
const LOOKUP_CONCURRENCY = 32

export interface LocalSourceOptions {
  readonly connect: () => Promise<MachinedClient>
  /** The host's cgroup hierarchies, where the figures are read (undefined: none mounted). */
  readonly layout: CgroupLayout | undefined
  /** Open terminals at most, over all machines. */
  readonly maxTerminals: number
  readonly log: (message: string) => void
}

export class LocalSource implements MachineSource {
  readonly host = ''
  readonly #options: LocalSourceOptions
  readonly #machines = new Map<string, KnownMachine>()
  /** Bumped by every event about a name, so a slow lookup cannot undo a later removal. */
  readonly #generation = new Map<string, number>()
  readonly #listeners = new Set<(e: SourceEvent) => void>()
  readonly #terminals = new Map<PtySession, string>()
  readonly #sampler: Sampler
  readonly #poller = new PtyPoller()
  readonly #timers = new Set<NodeJS.Timeout>()
  #client: MachinedClient | undefined
  #watch: AbortController | undefined
  #sampleTimer: NodeJS.Timeout | undefined
  #closed = false

  constructor(options: LocalSourceOptions) {
    this.#options = options
    this.#sampler = new Sampler(options.layout)
  }

  /** The connection to machined now; undefined while reconnecting. */
  get client(): MachinedClient | undefined {
    return this.#client
  }

  /** Connects, lists and starts following; rejects when the first connection fails. */
  async start(): Promise<void> {
    await this.#connect()
    this.#sampleTimer = setInterval(() => this.#sample(), SAMPLE_INTERVAL_MS)
    this.#sample()
  }

  async #connect(): Promise<void> {
    const client = await this.#options.connect()
    if (this.#closed) { client.close(); return }
    this.#client = client
    const abort = new AbortController()
    this.#watch = abort
    // Subscribe first, then list: nothing registered in between is missed.
    const events = client.watch({ signal: abort.signal })
    void this.#follow(client, events)
    await this.#resync(client)
  }

  async #follow(client: MachinedClient, events: AsyncIterableIterator<{ type: 'new' | 'removed'; name: string }>): Promise<void> {
    try {
      for await (const e of events) {
        if (e.type === 'new') void this.#lookUp(client, e.name)
        else this.#remove(e.name)
      }
    } catch (err) {
      this.#options.log(`Lost the daemon's signals: ${(err as Error).message}`)
    }
    if (this.#closed || this.#client !== client) return
    client.close()
    this.#client = undefined
    this.#reconnect()
  }

  #reconnect(): void {
    this.#later(RECONNECT_MS, () => {
      this.#connect().catch((err: unknown) => {
        this.#options.log(`Reconnecting to machined failed, retrying: ${(err as Error).message}`)
        this.#reconnect()
      })
    })
  }

  #later(ms: number, f: () => void): void {
    if (this.#closed) return
    const timer = setTimeout(() => { this.#timers.delete(timer); f() }, ms)
    this.#timers.add(timer)
  }

  /** Makes the map the daemon's list: new ones looked up, vanished ones removed. */
  async #resync(client: MachinedClient): Promise<void> {
    const names = new Set((await client.list()).filter((m) => m.class !== 'host').map((m) => m.name))
    for (const name of [...this.#machines.keys()]) if (!names.has(name)) this.#remove(name)
    const queue = [...names]
    const worker = async (): Promise<void> => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) await this.#lookUp(client, name)
    }
    await Promise.all(Array.from({ length: Math.min(LOOKUP_CONCURRENCY, queue.length) }, worker))
  }

  #bump(name: string): number {
    const g = (this.#generation.get(name) ?? 0) + 1
    this.#generation.set(name, g)
    return g
  }

  async #lookUp(client: MachinedClient, name: string, recheck = true): Promise<void> {
    const generation = this.#bump(name)
    let known: KnownMachine
    try {
      known = await fetchRow(client, name)
    } catch (err) {
      if (!(err instanceof NoSuchMachineError)) this.#options.log(`Looking up machine ${name} failed, ignoring: ${(err as Error).message}`)
      return
    }
    if (this.#closed || this.#generation.get(name) !== generation || known.row.class === 'host') return
    const before = this.#machines.get(name)
    this.#machines.set(name, known)
    if (before === undefined) this.#emit({ type: 'new', machine: known.row })
    else if (!sameRow(before.row, known.row)) this.#emit({ type: 'changed', machine: known.row })
    if (recheck) this.#later(RECHECK_AFTER_MS, () => { if (this.#machines.has(name)) void this.#recheck(name) })
  }

  async #recheck(name: string): Promise<void> {
    const client = this.#client
    if (client !== undefined) await this.#lookUp(client, name, false)
  }

  #remove(name: string): void {
    this.#bump(name)
    this.#generation.delete(name)
    const known = this.#machines.get(name)
    if (known === undefined) return
    this.#machines.delete(name)
    this.#sampler.forget(name)
    for (const [session, machine] of this.#terminals) if (machine === name) session.close()
    this.#emit({ type: 'removed', host: this.host, name })
  }

  #sample(): void {
    const machines = [...this.#machines.values()].map((k) => ({ name: k.row.name, unit: k.row.unit, leader: k.row.leader }))
    const rows = this.#sampler.sample(machines, Date.now())
    this.#emit({ type: 'samples', t: Date.now(), rows })
  }

  #emit(e: SourceEvent): void {
    for (const l of this.#listeners) l(e)
  }

  machines(): MachineRow[] {
    return [...this.#machines.values()].map((k) => k.row)
  }

  history(name: string): SampleHistory | undefined {
    return this.#sampler.history(name)
  }

  subscribe(listener: (event: SourceEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async readMetrics(): Promise<MachineMetrics[]> {
    return [...this.#machines.values()].map(({ row }) => {
      const s = this.#sampler.read({ name: row.name, unit: row.unit, leader: row.leader })
      return { machine: row, tasks: s.tasks, cpuSeconds: s.cpuSeconds, memoryBytes: s.memoryBytes, ioReadBytes: s.ioReadBytes, ioWriteBytes: s.ioWriteBytes }
    })
  }

  #requireClient(): MachinedClient {
    if (this.#client === undefined) throw new LimitsExceededError('machined is not reachable right now')
    return this.#client
  }

  async status(name: string): Promise<MachineStatus> {
    const status = await fetchStatus(this.#requireClient(), this.#options.layout, name, this.#sampler.latest(name))
    // A page that asks sees the newest facts; so does everyone else.
    const known = this.#machines.get(name)
    const row = rowPart(status)
    if (known !== undefined && !sameRow(known.row, row)) {
      this.#machines.set(name, { ...known, row })
      this.#emit({ type: 'changed', machine: row })
    }
    return status
  }

  async act(name: string, action: MachineAction, options: { signal?: number; whom?: 'leader' | 'all' } = {}): Promise<void> {
    const client = this.#requireClient()
    switch (action) {
      case 'poweroff': return client.kill(name, { whom: 'leader', signal: SIGNAL_POWEROFF })
      case 'reboot': return client.kill(name, { whom: 'leader', signal: SIGNAL_REBOOT })
      case 'terminate': return client.terminate(name)
      case 'kill': return client.kill(name, { whom: options.whom ?? 'all', signal: options.signal ?? 15 })
    }
  }

  async openTerminal(name: string, mode: TerminalMode): Promise<TerminalSession> {
    if (this.#terminals.size >= this.#options.maxTerminals) throw new LimitsExceededError(`Too many open terminals (at most ${this.#options.maxTerminals})`)
    const client = this.#requireClient()
    const pty = mode === 'shell' ? await client.openShell(name) : await client.openLogin(name)
    const session = new PtySession(pty.fd, mode, this.#poller)
    this.#terminals.set(session, name)
    void session.ended.then(() => this.#terminals.delete(session))
    // The machine may have gone while the pty was being opened.
    if (this.#closed || !this.#machines.has(name)) session.close()
    return session
  }

  close(): void {
    this.#closed = true
    if (this.#sampleTimer !== undefined) clearInterval(this.#sampleTimer)
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    for (const session of [...this.#terminals.keys()]) session.close()
    this.#poller.close()
    this.#watch?.abort()
    this.#client?.close()
    this.#client = undefined
    this.#listeners.clear()
  }
}
