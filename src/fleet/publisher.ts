/**
 * The publishing half of the fleet: one host's machines, kept in etcd under
 * the host's key range (layout.ts) on one lease the publisher keeps alive.
 *
 * - Changes are written in batches: the first change arms a short timer,
 *   and everything that changed until it fires (or while a write is under
 *   way) goes in one transaction.
 * - A full resync (read what is there, then one transaction that deletes
 *   what should not be and writes what differs, guarded by "nothing under
 *   our range changed since the read") runs at start, after any failure,
 *   and whenever the lease is gone (expired during a partition, or etcd
 *   lost its data), so etcd ends up holding exactly our machines.
 * - Nobody waits for etcd: the source only says "this name changed", and
 *   one loop does all the talking. Failures are retried with jittered
 *   backoff and logged as one outage, never thrown at callers.
 * - Liveness is the lease: etcd drops every key of a host whose lease ran
 *   out, whatever the clocks say. On stop the lease is left to expire (or
 *   revoked on request), and its ID is remembered in `leaseFile`, so a
 *   daemon restarted within the TTL takes its keys over instead of leaving
 *   a second copy behind.
 * @module
 */

import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import type { IRequestOp } from 'etcd3'
import { Backoff, OutageLog, type BackoffOptions, type FleetLog } from './backoff.ts'
import { hostIdPrefix, hostKey, instancePrefix, leaseFromHex, leaseToHex, machineKey, prefixEnd, type HostInstance } from './layout.ts'
import { encodeHostRecord, encodeMachineRecord, type HostRecord, type MachineRecord } from './records.ts'
import { commitInParts, isLeaseGone, keepAliveOnce, LeaseGoneError, rangePrefix, type EtcdClients } from './store.ts'

/** Where the publisher gets the host's machines: it never waits on them, and they never wait on it. */
export interface FleetSource {
  names(): Iterable<string>
  /** The machine's record now; undefined once it is gone. */
  record(name: string): MachineRecord | undefined
  /** Calls back with a name whenever that machine's record may have changed, or it went. */
  onChange(listener: (name: string) => void): { dispose(): void }
}

export interface PublisherOptions {
  readonly etcd: EtcdClients
  readonly hostId: string
  /** Read at every resync (and every keep-alive, to notice a new hostname). */
  readonly host: () => HostRecord
  readonly source: FleetSource
  readonly log: FleetLog
  readonly ttlSeconds: number
  /** How long the first change waits for others to join its transaction. */
  readonly batchMs?: number
  readonly backoff?: BackoffOptions
  /** Remembers the lease for the next run on this host (machined: in its runtime directory). */
  readonly leaseFile?: string | undefined
  readonly callDeadlineMs?: number
}

export interface PublisherStats {
  transactions: number
  resyncs: number
  puts: number
  deletes: number
  keepAlives: number
  leasesGranted: number
}

export class FleetPublisher {
  readonly #o: PublisherOptions
  readonly #backoff: Backoff
  readonly #outage: OutageLog
  readonly #subscription: { dispose(): void }
  readonly #dirty = new Set<string>()
  /** What etcd holds under our instance, as far as our own acknowledged writes say. */
  #published = new Map<string, Buffer>()
  #hostname = ''
  #lease: string | undefined
  #remembered: string | undefined
  #needResync = true
  /** Leases lost in a row: a new one is taken at once, unless etcd keeps forgetting them. */
  #leaseLosses = 0
  #flushAt: number | undefined
  #lastKeepAlive = 0
  #maxRevision = 0n
  #stopped = false
  #wake: (() => void) | undefined
  readonly #done: Promise<void>
  readonly #liveListeners = new Set<() => void>()
  readonly stats: PublisherStats = { transactions: 0, resyncs: 0, puts: 0, deletes: 0, keepAlives: 0, leasesGranted: 0 }

  constructor(options: PublisherOptions) {
    this.#o = options
    this.#backoff = new Backoff(options.backoff)
    this.#outage = new OutageLog(options.log, 'Publishing to etcd')
    this.#remembered = this.#readLeaseFile()
    this.#subscription = options.source.onChange((name) => {
      this.#dirty.add(name)
      if (this.#flushAt === undefined) {
        this.#flushAt = Date.now() + (options.batchMs ?? 20)
        this.#poke()
      }
    })
    this.#done = this.#run()
  }

  /** The instance our keys live under, while we hold a lease. */
  get instance(): HostInstance | undefined {
    const hex = this.#lease === undefined ? undefined : leaseToHex(this.#lease)
    return hex === undefined ? undefined : { hostId: this.#o.hostId, lease: hex }
  }

  /** Whether etcd holds exactly our state as of the last change written. */
  get live(): boolean {
    return !this.#needResync && !this.#outage.down && this.#dirty.size === 0
  }

  /** Called after every resync that succeeded. */
  onLive(listener: () => void): { dispose(): void } {
    this.#liveListeners.add(listener)
    return { dispose: () => this.#liveListeners.delete(listener) }
  }

  /** Stops publishing; with `revoke`, removes our keys from etcd now instead of at the lease's end. */
  async close(options: { revoke?: boolean } = {}): Promise<void> {
    if (this.#stopped) return this.#done
    this.#stopped = true
    this.#subscription.dispose()
    this.#poke()
    await this.#done
    const lease = this.#lease
    if (options.revoke === true && lease !== undefined) {
      await this.#o.etcd.leaseClient.leaseRevoke({ ID: lease }, { deadline: Date.now() + this.#deadline }).catch(() => undefined)
    }
  }

  get #deadline(): number {
    return this.#o.callDeadlineMs ?? Math.max(1000, Math.min(5000, (this.#o.ttlSeconds * 1000) / 2))
  }

  #poke(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.#wake = undefined; resolve() }, Math.max(0, ms))
      this.#wake = () => { clearTimeout(timer); resolve() }
    })
  }

  async #run(): Promise<void> {
    const keepAliveEvery = (this.#o.ttlSeconds * 1000) / 3
    while (!this.#stopped) {
      try {
        const now = Date.now()
        if (this.#lease === undefined) await this.#obtainLease()
        else if (this.#needResync) await this.#resync()
        else if (now - this.#lastKeepAlive >= keepAliveEvery) await this.#keepAlive()
        else if (this.#flushAt !== undefined && now >= this.#flushAt) await this.#flush()
        else {
          const next = Math.min(this.#lastKeepAlive + keepAliveEvery, this.#flushAt ?? Infinity)
          await this.#sleep(next - now)
          continue
        }
        this.#outage.recovered({ lease: this.instance?.lease })
        this.#backoff.reset()
      } catch (err) {
        if (this.#stopped) break
        this.#needResync = true
        if (isLeaseGone(err)) {
          this.#o.log.warn('The fleet lease is gone (expired while etcd was out of reach, or etcd lost its data): taking a new one and publishing everything again', { lease: this.instance?.lease })
          this.#lease = undefined
          // etcd answered, so it is there: go on at once, unless this keeps happening.
          if (++this.#leaseLosses <= 2) continue
        }
        this.#outage.failed(err)
        await this.#sleep(this.#backoff.next())
      }
    }
  }

  #readLeaseFile(): string | undefined {
    if (this.#o.leaseFile === undefined) return undefined
    try {
      const [hostId, hex] = readFileSync(this.#o.leaseFile, 'utf8').trim().split(' ')
      return hostId === this.#o.hostId && hex !== undefined && /^[0-9a-f]{16}$/.test(hex) ? leaseFromHex(hex) : undefined
    } catch {
      return undefined // first run on this host
    }
  }

  #writeLeaseFile(hex: string): void {
    const file = this.#o.leaseFile
    if (file === undefined) return
    try {
      writeFileSync(`${file}.tmp`, `${this.#o.hostId} ${hex}\n`, { mode: 0o600 })
      renameSync(`${file}.tmp`, file)
    } catch (err) {
      this.#o.log.warn('Cannot remember the fleet lease for the next run, ignoring', { file, error: String(err) })
    }
  }

  /** The lease of our previous run if etcd still has it, else a new one. */
  async #obtainLease(): Promise<void> {
    const remembered = this.#remembered
    if (remembered !== undefined) {
      try {
        this.#noteRevision(await keepAliveOnce(this.#o.etcd, remembered, this.#deadline))
        this.#remembered = undefined
        this.#lease = remembered
        this.#lastKeepAlive = Date.now()
        this.#needResync = true
        this.#o.log.info('Took over the fleet lease of the previous run', { lease: leaseToHex(remembered) })
        return
      } catch (err) {
        if (!isLeaseGone(err)) throw err
        this.#remembered = undefined
      }
    }
    const granted = await this.#o.etcd.leaseClient.leaseGrant({ TTL: this.#o.ttlSeconds }, { deadline: Date.now() + this.#deadline })
    const hex = leaseToHex(granted.ID)
    if (hex === undefined) throw new Error(`etcd granted an invalid lease ID ${granted.ID}`)
    this.#noteRevision(granted.header)
    this.#lease = granted.ID
    this.#lastKeepAlive = Date.now()
    this.#needResync = true
    this.stats.leasesGranted++
    this.#writeLeaseFile(hex)
    this.#o.log.info('Publishing machines to etcd', { host: this.#o.hostId, lease: hex, ttl: granted.TTL })
  }

  async #keepAlive(): Promise<void> {
    const lease = this.#lease!
    this.#noteRevision(await keepAliveOnce(this.#o.etcd, lease, this.#deadline))
    this.#lastKeepAlive = Date.now()
    this.stats.keepAlives++
    if (this.#o.host().hostname !== this.#hostname) this.#needResync = true
  }

  /** A revision lower than one seen before means etcd was restored or replaced: publish everything again. */
  #noteRevision(header: { revision: string } | undefined): void {
    if (header === undefined) return
    const revision = BigInt(header.revision)
    if (revision < this.#maxRevision) {
      this.#o.log.warn('etcd went back in time (restored or replaced?): publishing everything again', { revision: header.revision, seen: this.#maxRevision.toString() })
      this.#needResync = true
    }
    this.#maxRevision = revision
  }

  /** Makes etcd hold exactly our machines under our instance, in one transaction. */
  async #resync(): Promise<void> {
    const instance = this.instance!
    const lease = this.#lease!
    const hostIdRange = hostIdPrefix(instance.hostId)
    // A lease that etcd forgot fails here rather than in the transaction.
    await this.#keepAlive()
    const read = await rangePrefix(this.#o.etcd, hostIdRange)
    this.#noteRevision(read.header)
    this.#needResync = false
    // Everything that changed up to now is part of this resync.
    this.#dirty.clear()
    this.#flushAt = undefined
    const host = this.#o.host()
    const wanted = new Map<string, Buffer>([[hostKey(instance), encodeHostRecord(host)]])
    for (const name of this.#o.source.names()) {
      const record = this.#o.source.record(name)
      if (record !== undefined) wanted.set(machineKey(instance, name), encodeMachineRecord(record))
    }
    const ours = instancePrefix(instance)
    const there = new Map<string, { value: Buffer; lease: string }>()
    const others = new Set<string>()
    for (const kv of read.kvs) {
      const key = kv.key.toString()
      if (key.startsWith(ours)) there.set(key, { value: kv.value, lease: kv.lease })
      else if (key.endsWith('/host')) others.add(key.slice(hostIdRange.length, -'/host'.length))
    }
    if (others.size > 0) {
      this.#o.log.warn('Another live publisher uses this host\'s machine ID (a cloned /etc/machine-id?): both are listed, flagged as duplicates', { host: this.#o.hostId, leases: [...others].join(',') })
    }
    const ops: IRequestOp[] = []
    let puts = 0
    for (const [key, value] of wanted) {
      const current = there.get(key)
      if (current !== undefined && current.lease === lease && current.value.equals(value)) continue
      ops.push({ request_put: { key: Buffer.from(key), value, lease } })
      puts++
    }
    for (const key of there.keys()) if (!wanted.has(key)) ops.push({ request_delete_range: { key: Buffer.from(key) } })
    // Only we write under our instance: if anything there changed since the read, read again.
    const compare = [{ key: Buffer.from(ours), range_end: prefixEnd(ours), target: 'Mod' as const, result: 'Less' as const, mod_revision: (BigInt(read.revision) + 1n).toString() }]
    const res = await commitInParts(this.#o.etcd, ops, { compare, deadlineMs: this.#deadline })
    this.#noteRevision(res.header)
    if (!res.succeeded) {
      this.#needResync = true
      throw new Error('keys under this host changed during the resync')
    }
    if (res.transactions > 1) {
      this.#o.log.warn('This host\'s machines are too many for one etcd transaction: the resync took several (readers may have seen it half done)', { transactions: res.transactions, operations: ops.length })
    }
    this.#published = new Map([...wanted].filter(([key]) => key !== hostKey(instance)))
    this.#hostname = host.hostname
    this.#leaseLosses = 0
    this.stats.transactions += res.transactions
    this.stats.resyncs++
    this.stats.puts += puts
    this.stats.deletes += ops.length - puts
    this.#o.log.debug('Published every machine to etcd', { machines: this.#published.size, puts, deletes: ops.length - puts })
    for (const l of this.#liveListeners) l()
  }

  /** Writes what changed since the last write, in one transaction. */
  async #flush(): Promise<void> {
    const instance = this.instance!
    const lease = this.#lease!
    const names = [...this.#dirty]
    this.#dirty.clear()
    this.#flushAt = undefined
    const ops: IRequestOp[] = []
    const changes: [string, Buffer | undefined][] = []
    for (const name of names) {
      const key = machineKey(instance, name)
      const record = this.#o.source.record(name)
      const value = record === undefined ? undefined : encodeMachineRecord(record)
      const before = this.#published.get(key)
      if (value === undefined ? before === undefined : before?.equals(value) === true) continue
      ops.push(value === undefined ? { request_delete_range: { key: Buffer.from(key) } } : { request_put: { key: Buffer.from(key), value, lease } })
      changes.push([key, value])
    }
    if (ops.length === 0) return
    try {
      const res = await commitInParts(this.#o.etcd, ops, { deadlineMs: this.#deadline })
      this.#noteRevision(res.header)
      this.stats.transactions += res.transactions - 1
    } catch (err) {
      if (isLeaseGone(err)) throw new LeaseGoneError(lease)
      throw err // the resync that follows covers these names
    }
    for (const [key, value] of changes) {
      if (value === undefined) { this.#published.delete(key); this.stats.deletes++ } else { this.#published.set(key, value); this.stats.puts++ }
    }
    this.stats.transactions++
  }
}
