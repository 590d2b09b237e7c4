/**
 * The fleet on the console's page (issue 15): every other host that
 * publishes to etcd, each as one MachineSource in the hub, so the page
 * groups machines by host. All of it comes from ONE FleetWatch (one range
 * read, then one watch on the whole fleet prefix; src/fleet/reader.ts):
 * never a watch per host or per machine. Each change of the view is
 * diffed host by host and machine by machine (a record the view did not
 * replace is the same object, so an unchanged machine costs a lookup),
 * and only what changed reaches the page.
 *
 * A remote host's machines are what its publisher wrote: facts, no
 * figures (its cgroups are on its own host), no actions and no terminals
 * (NotSupportedError: those go to the host's own console). The host this
 * console runs on is left out by its machine ID, since the local source
 * shows it live.
 * @module
 */

import { FleetWatch } from '../fleet/reader.ts'
import type { MachineRecord } from '../fleet/records.ts'
import type { EtcdClients } from '../fleet/store.ts'
import type { FleetHost, FleetView } from '../fleet/view.ts'
import { NoSuchMachineError, NotSupportedError } from '../protocol/errors.ts'
import type { MachineRow, MachineStatus, SampleHistory } from './api-types.ts'
import type { SourceHub } from './hub.ts'
import type { MachineMetrics, MachineSource, SourceEvent, TerminalSession } from './source.ts'

function rowOf(host: string, m: MachineRecord): MachineRow {
  let since = 0
  try { since = Number(BigInt(m.timestamp) / 1000n) } catch { /* checked by the decoder; 0 if not */ }
  return {
    host,
    name: m.name,
    class: m.class ?? '',
    service: m.service,
    id: m.id,
    unit: m.unit,
    leader: m.leader,
    os: m.osRelease.PRETTY_NAME ?? '',
    addresses: m.addresses.map((a) => a.address),
    since,
  }
}

/** One remote host's machines, as its publisher wrote them. */
export class RemoteHostSource implements MachineSource {
  readonly host: string
  readonly #machines = new Map<string, { record: MachineRecord; row: MachineRow }>()
  readonly #listeners = new Set<(e: SourceEvent) => void>()

  constructor(host: string) {
    this.host = host
  }

  /** Takes the host's machines as the view has them now; tells listeners what changed. */
  update(machines: ReadonlyMap<string, MachineRecord>): void {
    for (const name of [...this.#machines.keys()]) {
      if (machines.has(name)) continue
      this.#machines.delete(name)
      this.#emit({ type: 'removed', host: this.host, name })
    }
    for (const [name, record] of machines) {
      const known = this.#machines.get(name)
      if (known?.record === record) continue
      const row = rowOf(this.host, record)
      this.#machines.set(name, { record, row })
      this.#emit({ type: known === undefined ? 'new' : 'changed', machine: row })
    }
  }

  #emit(e: SourceEvent): void {
    for (const l of this.#listeners) l(e)
  }

  machines(): readonly MachineRow[] {
    return [...this.#machines.values()].map((m) => m.row)
  }

  history(): SampleHistory | undefined {
    return undefined
  }

  subscribe(listener: (event: SourceEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Figures are read where the cgroups are: the host's own machined-web serves them. */
  readMetrics(): Promise<MachineMetrics[]> {
    return Promise.resolve([])
  }

  status(name: string): Promise<MachineStatus> {
    const m = this.#machines.get(name)
    if (m === undefined) return Promise.reject(new NoSuchMachineError(`No machine '${name}' known on host '${this.host}'`))
    return Promise.resolve({
      ...m.row,
      state: m.record.state,
      rootDirectory: m.record.rootDirectory,
      interfaces: m.record.networkInterfaces.map((i) => `#${i}`),
      uidShift: null,
      leaderCommand: '',
      guestId: '',
      tree: null,
      sample: null,
    })
  }

  act(): Promise<void> {
    return Promise.reject(new NotSupportedError(`Machines on host '${this.host}' are managed from that host`))
  }

  openTerminal(): Promise<TerminalSession> {
    return Promise.reject(new NotSupportedError(`Terminals into machines on host '${this.host}' are opened from that host`))
  }

  close(): void {
    this.#listeners.clear()
  }
}

/**
 * What the page calls each live host: its hostname, made unique where two
 * publishers share one (a cloned host, or a restart whose old lease has
 * not expired yet) by their host ID and lease.
 */
export function hostKeys(hosts: readonly FleetHost[]): Map<string, FleetHost> {
  const count = new Map<string, number>()
  for (const h of hosts) count.set(h.record.hostname, (count.get(h.record.hostname) ?? 0) + 1)
  return new Map(hosts.map((h) => [count.get(h.record.hostname)! > 1 ? `${h.record.hostname} (${h.hostId.slice(0, 8)}, lease ${h.lease})` : h.record.hostname, h]))
}

export interface FleetSourcesOptions {
  readonly etcd: EtcdClients
  readonly hub: SourceHub
  /** This host's machine ID: its own publisher is not shown twice. */
  readonly localHostId: string | undefined
  readonly log: (message: string) => void
}

/** Every remote host of the fleet in the hub, kept current from one prefix watch. */
export class FleetSources {
  readonly #o: FleetSourcesOptions
  readonly #hosts = new Map<string, RemoteHostSource>()
  readonly #watch: FleetWatch
  #refusedWarned = 0

  constructor(options: FleetSourcesOptions) {
    this.#o = options
    const log = (level: string) => (message: string, fields?: Record<string, unknown>): void => options.log(`fleet: ${level}: ${message}${fields === undefined ? '' : ` ${JSON.stringify(fields)}`}`)
    this.#watch = new FleetWatch(options.etcd, {
      onChange: (view) => this.#apply(view),
      log: { debug: () => undefined, info: log('info'), warn: log('warning'), error: log('error') },
    })
  }

  /** Resolves once the first read of the fleet is in. */
  ready(): Promise<void> {
    return this.#watch.ready()
  }

  #apply(view: FleetView): void {
    const live = hostKeys(view.hosts().filter((h) => h.hostId !== this.#o.localHostId))
    for (const [key, source] of this.#hosts) {
      if (live.has(key)) continue
      this.#hosts.delete(key)
      this.#o.hub.remove(key)
      source.close()
    }
    for (const [key, host] of live) {
      let source = this.#hosts.get(key)
      if (source === undefined) {
        source = new RemoteHostSource(key)
        this.#hosts.set(key, source)
        this.#o.hub.add(source)
      }
      source.update(host.machines)
    }
    const refused = view.refused.size
    if (refused > this.#refusedWarned) this.#o.log(`fleet: ignoring ${refused} invalid ${refused === 1 ? 'entry' : 'entries'} in etcd`)
    this.#refusedWarned = refused
  }

  async close(): Promise<void> {
    await this.#watch.close()
  }
}
