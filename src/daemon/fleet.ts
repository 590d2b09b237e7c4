/**
 * machined's side of the fleet (docs/fleet.md): the --fleet-* options, and
 * the one place where the Manager's machines become the publisher's source.
 * The Manager's MachineNew/MachineRemoved events mark names changed; each
 * machine's os-release and addresses are looked up in the background (a
 * container's network comes up after it registers, so again after 2 s,
 * 10 s, 1 min, then every 30 min), never on a caller's path.
 * @module
 */

import { mkdirSync, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { formatAddress } from '../protocol/address.ts'
import { idToString, type Machine } from '../core/machine.ts'
import { HOST_MACHINE_NAME, type Manager } from '../core/manager.ts'
import type { Log } from '../core/ports.ts'
import { machineAddresses, machineOsRelease } from '../core/machine-inspect.ts'
import { etcdConfigFrom, settingsFromEnv, type EtcdConfig } from '../fleet/etcd-config.ts'
import type { FleetSource } from '../fleet/publisher.ts'
import type { FleetAddress, MachineRecord } from '../fleet/records.ts'

export interface FleetOptions {
  readonly etcd: EtcdConfig
  readonly ttlSeconds: number
}

/** node:util parseArgs() specs of the fleet options, for machined's command line. */
export const FLEET_ARGS = {
  'fleet-etcd': { type: 'string' },
  'fleet-ttl': { type: 'string' },
  'fleet-etcd-ca': { type: 'string' },
  'fleet-etcd-cert': { type: 'string' },
  'fleet-etcd-key': { type: 'string' },
  'fleet-etcd-user': { type: 'string' },
  'fleet-etcd-password-file': { type: 'string' },
} as const

export const FLEET_HELP = `     --fleet-etcd=URL[,URL...]  Publish this host's machines to the fleet in
                                etcd (http:// or https:// endpoints)
     --fleet-ttl=SECONDS        Lease time to live: how long the fleet lists
                                this host after it stops answering (default 10)
     --fleet-etcd-ca=FILE       CA certificate of the etcd servers (PEM)
     --fleet-etcd-cert=FILE     Client certificate for etcd (PEM)
     --fleet-etcd-key=FILE      Its private key (PEM)
     --fleet-etcd-user=NAME     etcd user; the password is read from
     --fleet-etcd-password-file=FILE, or $MACHINED_FLEET_ETCD_PASSWORD
`

type FleetValues = { readonly [K in keyof typeof FLEET_ARGS]?: string | undefined }

/** The fleet settings, checked and their files read; undefined without --fleet-etcd. Throws a one-line Error. */
export function fleetOptionsFrom(values: FleetValues, env: NodeJS.ProcessEnv): FleetOptions | undefined {
  if (values['fleet-etcd'] === undefined) {
    const stray = Object.keys(FLEET_ARGS).find((k) => k !== 'fleet-etcd' && values[k as keyof FleetValues] !== undefined)
    if (stray !== undefined) throw new Error(`--${stray} needs --fleet-etcd`)
    return undefined
  }
  const ttlText = values['fleet-ttl'] ?? '10'
  const ttlSeconds = /^\d+$/.test(ttlText) ? Number(ttlText) : NaN
  // etcd's shortest lease is about 2 s (1.5 election timeouts); a day is plenty.
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 2 || ttlSeconds > 86400) throw new Error(`Invalid --fleet-ttl=${ttlText} (2…86400 seconds)`)
  const settings = settingsFromEnv({
    endpoints: values['fleet-etcd'], ca: values['fleet-etcd-ca'], cert: values['fleet-etcd-cert'], key: values['fleet-etcd-key'],
    user: values['fleet-etcd-user'], passwordFile: values['fleet-etcd-password-file'],
  }, env)
  return { etcd: etcdConfigFrom({ ...settings, endpoints: values['fleet-etcd'] }, env), ttlSeconds }
}

/**
 * When a container's os-release and addresses are looked at again after it
 * registered (ms), then every 30 min (an upgrade, a new address). Machined
 * looks inside containers only (VMs answer NotSupported), and each look at
 * the addresses runs a child process: 10,000 containers cost about 6 a second.
 */
const REFRESH_AFTER = [0, 2000, 10_000, 60_000]
const REFRESH_EVERY = 1_800_000
/** Lookups into machines at once: each may run a child process (an operation). */
const REFRESH_CONCURRENCY = 2

interface Inside {
  osRelease: Record<string, string>
  addresses: FleetAddress[]
}

/** The Manager's machines as the publisher sees them. */
class ManagerSource implements FleetSource {
  readonly #manager: Manager
  readonly #inside = new Map<string, Inside>()
  readonly #timers = new Map<string, NodeJS.Timeout>()
  readonly #listeners = new Set<(name: string) => void>()
  readonly #queue: string[] = []
  #running = 0
  readonly #subscription: { dispose(): void }

  constructor(manager: Manager) {
    this.#manager = manager
    this.#subscription = manager.on({
      machineNew: (m) => { this.#changed(m.name); this.#schedule(m.name, 0) },
      machineRemoved: (m) => { this.#forget(m.name); this.#changed(m.name) },
    })
    for (const m of manager.list()) if (m.name !== HOST_MACHINE_NAME) this.#schedule(m.name, 0)
  }

  names(): Iterable<string> {
    return this.#manager.list().filter((m) => m.name !== HOST_MACHINE_NAME).map((m) => m.name)
  }

  record(name: string): MachineRecord | undefined {
    const m = name === HOST_MACHINE_NAME ? undefined : this.#manager.find(name)
    return m === undefined ? undefined : this.#toRecord(m)
  }

  onChange(listener: (name: string) => void): { dispose(): void } {
    this.#listeners.add(listener)
    return { dispose: () => this.#listeners.delete(listener) }
  }

  dispose(): void {
    this.#subscription.dispose()
    for (const t of this.#timers.values()) clearTimeout(t)
    this.#timers.clear()
    this.#queue.length = 0
  }

  #toRecord(m: Machine): MachineRecord {
    const extras = this.#manager.extras(m)
    const inside = this.#inside.get(m.name)
    return {
      name: m.name, id: m.idString, class: m.class, service: m.service, state: m.state, leader: m.leader.pid,
      rootDirectory: m.rootDirectory, unit: m.unit?.unit ?? '', timestamp: m.timestamp.realtime.toString(),
      networkInterfaces: m.netifs, vSockCid: extras.vsockCid, sshAddress: extras.sshAddress,
      osRelease: inside?.osRelease ?? {}, addresses: inside?.addresses ?? [],
    }
  }

  #changed(name: string): void {
    for (const l of this.#listeners) l(name)
  }

  #forget(name: string): void {
    clearTimeout(this.#timers.get(name))
    this.#timers.delete(name)
    this.#inside.delete(name)
  }

  #schedule(name: string, round: number): void {
    if (this.#manager.find(name)?.class !== 'container') return
    const delay = REFRESH_AFTER[round] ?? REFRESH_EVERY
    this.#timers.set(name, setTimeout(() => {
      this.#timers.delete(name)
      this.#queue.push(name)
      this.#pump()
      this.#schedule(name, round + 1)
    }, delay))
  }

  #pump(): void {
    while (this.#running < REFRESH_CONCURRENCY && this.#queue.length > 0) {
      const name = this.#queue.shift()!
      if (this.#manager.find(name) === undefined) continue
      this.#running++
      void this.#lookInside(name).finally(() => { this.#running--; this.#pump() })
    }
  }

  /** A machine that has no os-release or network of its own (a VM, a leader in the host's namespaces) shows none. */
  async #lookInside(name: string): Promise<void> {
    const machine = this.#manager.find(name)
    if (machine === undefined) return
    const [os, addresses] = await Promise.all([
      machineOsRelease(this.#manager, machine).catch(() => undefined),
      machineAddresses(this.#manager, machine).catch(() => undefined),
    ])
    if (this.#manager.find(name) === undefined) return
    const inside: Inside = {
      osRelease: os === undefined ? {} : Object.fromEntries(os),
      addresses: (addresses ?? []).map((a) => ({ family: a.family, address: formatAddress(a.family, a.address) })),
    }
    const before = this.#inside.get(name)
    this.#inside.set(name, inside)
    if (JSON.stringify(before) !== JSON.stringify(inside)) this.#changed(name)
  }
}

function readBootId(): string {
  try { return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replace(/-/g, '') } catch { return '' }
}

/**
 * Starts publishing the Manager's machines; dispose() stops (the lease then
 * runs out within the TTL). The etcd client (gRPC, protobuf: about 150 ms
 * and 9 MiB of heap) is loaded here, in the background, so a daemon that
 * is not part of a fleet never loads it and one that is starts serving
 * without waiting for it.
 */
export function startFleet(options: FleetOptions, deps: { manager: Manager; log: Log; runtimeDir: string; version: string }): { dispose(): void } {
  const hostId = idToString(deps.manager.host.id)
  if (hostId === '') throw new Error('--fleet-etcd needs a machine ID in /etc/machine-id')
  const bootId = readBootId()
  let disposed = false
  let stop: (() => void) | undefined
  void Promise.all([import('../fleet/etcd.ts'), import('../fleet/publisher.ts')]).then(([{ openEtcd }, { FleetPublisher }]) => {
    if (disposed) return
    const etcd = openEtcd(options.etcd)
    const source = new ManagerSource(deps.manager)
    let leaseFile: string | undefined = `${deps.runtimeDir}/fleet-lease`
    try { mkdirSync(deps.runtimeDir, { recursive: true }) } catch { leaseFile = undefined }
    const publisher = new FleetPublisher({
      etcd, hostId, source, log: deps.log, ttlSeconds: options.ttlSeconds, leaseFile,
      host: () => ({ hostname: hostname(), bootId, software: `machined-ts ${deps.version}` }),
    })
    deps.log.info('Publishing machines to the fleet', { etcd: options.etcd.endpoints.join(','), ttl: options.ttlSeconds })
    stop = () => {
      source.dispose()
      void publisher.close().finally(() => etcd.close())
    }
  }).catch((err: unknown) => deps.log.error('Failed to start publishing to the fleet', { error: String(err) }))
  return {
    dispose: () => {
      disposed = true
      stop?.()
    },
  }
}
