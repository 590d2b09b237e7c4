/**
 * The client over Varlink: io.systemd.Machine on its socket, as newer
 * systemd clients (vmspawn, nspawn ≥ 257) talk to machined. Varlink has no
 * signals: watch() listens on the system bus.
 * @module
 */

import { errorFromCode, NotSupportedError, type MachinedError } from '../protocol/errors.ts'
import type { MachineClass } from '../protocol/vocabulary.ts'
import type { DbusMachinedClient } from './dbus.ts'
import { fromVarlinkError } from './errors.ts'
import type {
  BindOptions, CopyOptions, KillOptions, MachineAddress, MachineDescription, MachineDetails, MachineEvent, MachineListEntry, MachinePty, MachineSummary, MachinedClient,
  RegisterOptions, ShellOptions,
} from './types.ts'
import { formatAddress } from '../protocol/address.ts'
import { idBytes, idHex } from './values.ts'
import { VarlinkImageClient } from './images-varlink.ts'
import { VarlinkTransferClient } from './transfers-varlink.ts'
import { MachinesClient } from './machines.ts'
import { VarlinkConnection, VarlinkReplyError } from './varlink-connection.ts'
import { describer, listEntryOf, listRecords, type ListRecord } from './varlink-list.ts'

const IFACE = 'io.systemd.Machine'

export class VarlinkMachinedClient implements MachinedClient {
  readonly transport = 'varlink'
  readonly #conn: VarlinkConnection
  readonly #busAddress: string
  #bus: Promise<DbusMachinedClient> | undefined
  #images: VarlinkImageClient | undefined
  #transfers: VarlinkTransferClient | undefined

  private constructor(conn: VarlinkConnection, busAddress: string) {
    this.#conn = conn
    this.#busAddress = busAddress
  }

  static async connect(socket: string, busAddress: string): Promise<VarlinkMachinedClient> {
    return new VarlinkMachinedClient(await VarlinkConnection.connect(socket), busAddress)
  }

  /** io.systemd.MachineImage, on the same connection (newer systemd serves it on the Machine socket too). */
  get images(): VarlinkImageClient {
    this.#images ??= new VarlinkImageClient(this.#conn)
    return this.#images
  }

  /** io.systemd.Import for listing and pulls; imports, exports and cancelling over D-Bus. */
  get transfers(): VarlinkTransferClient {
    this.#transfers ??= new VarlinkTransferClient(async () => (await this.#dbus()).transfers)
    return this.#transfers
  }

  async #call(method: string, parameters: Record<string, unknown>, name?: string): Promise<Record<string, unknown>> {
    try {
      return await this.#conn.call(`${IFACE}.${method}`, parameters)
    } catch (err) {
      if (err instanceof VarlinkReplyError) throw fromVarlinkError(err.error, err.parameters, describer(name))
      throw err
    }
  }

  #machines: MachinesClient | undefined

  get #services(): MachinesClient {
    this.#machines ??= new MachinesClient(this.#conn)
    return this.#machines
  }

  start(name: string): Promise<void> {
    return this.#services.start(name)
  }

  enable(name: string): Promise<void> {
    return this.#services.enable(name)
  }

  disable(name: string): Promise<void> {
    return this.#services.disable(name)
  }

  describe(name: string): Promise<MachineDescription> {
    return this.#services.describe(name)
  }

  async register(o: RegisterOptions): Promise<void> {
    if ((o.scopeProperties ?? []).length > 0) {
      // io.systemd.Machine.Register has no unit settings; dropping them silently would change what the caller gets.
      throw new NotSupportedError('Scope properties need the D-Bus transport (CreateMachine); Varlink Register has none')
    }
    const id = idHex(idBytes(o.id))
    const p: Record<string, unknown> = { name: o.name, class: o.class }
    if (id !== '') p.id = id
    if (o.service !== undefined) p.service = o.service
    if (o.leader !== undefined) p.leader = o.leader // else the daemon takes our PID (SO_PEERCRED)
    if (o.rootDirectory !== undefined && o.rootDirectory !== '') p.rootDirectory = o.rootDirectory
    if (o.networkInterfaces !== undefined) p.ifIndices = [...o.networkInterfaces]
    if (o.allocateUnit !== undefined) p.allocateUnit = o.allocateUnit
    if (o.vsockCid !== undefined) p.vSockCid = o.vsockCid
    if (o.sshAddress !== undefined) p.sshAddress = o.sshAddress
    if (o.sshPrivateKeyPath !== undefined) p.sshPrivateKeyPath = o.sshPrivateKeyPath
    await this.#call('Register', p, o.name)
  }

  async unregister(name: string): Promise<void> {
    await this.#call('Unregister', { name }, name)
  }

  async terminate(name: string): Promise<void> {
    await this.#call('Terminate', { name }, name)
  }

  async kill(name: string, options: KillOptions = {}): Promise<void> {
    await this.#call('Kill', { name, whom: options.whom ?? 'all', signal: options.signal ?? 15 }, name)
  }

  #list(filter: { name?: string }, metadata: boolean): Promise<ListRecord[]> {
    return listRecords(this.#conn, filter, metadata)
  }

  async list(): Promise<MachineSummary[]> {
    return (await this.#list({}, false)).map((r) => ({ name: r.name, class: r.class as MachineClass | '', service: r.service ?? '' }))
  }

  /**
   * Every machine with its os-release and addresses, in one List call
   * (acquireMetadata "graceful"): what `machinectl list` shows, without a
   * call per machine. A field is undefined where the daemon could not tell.
   */
  async listWithMetadata(): Promise<MachineListEntry[]> {
    return (await this.#list({}, true)).map(listEntryOf)
  }

  async get(name: string): Promise<MachineDetails> {
    const [r] = await this.#list({ name }, false)
    if (r === undefined) throw fromVarlinkError('io.systemd.Machine.NoSuchMachine', {}, describer(name))
    return {
      name: r.name, id: r.id ?? '', class: r.class as MachineClass | '', service: r.service ?? '', unit: r.unit ?? '',
      leader: r.leader?.pid ?? 0, rootDirectory: r.rootDirectory ?? '',
      timestamp: { realtime: BigInt(r.timestamp?.realtime ?? 0), monotonic: BigInt(r.timestamp?.monotonic ?? 0) },
      networkInterfaces: [], state: undefined,
    }
  }

  /**
   * List with acquireMetadata "graceful": one field missing does not cost
   * the others. A missing field is then explained the way the D-Bus call
   * would explain it.
   */
  async #metadata(name: string): Promise<ListRecord> {
    const [r] = await this.#list({ name }, true)
    if (r === undefined) throw fromVarlinkError('io.systemd.Machine.NoSuchMachine', {}, describer(name))
    return r
  }

  #missing(r: ListRecord, what: 'addresses' | 'os' | 'uid'): MachinedError {
    if (r.class !== 'container' && r.class !== 'host') {
      const text = { addresses: 'Requesting IP address data', os: 'Requesting OS release data', uid: 'UID/GID shift' }[what]
      return errorFromCode('NOT_SUPPORTED', what === 'uid' ? `${text} may only be determined for container machines.` : `${text} is only supported on container machines.`)
    }
    const code = ({ addresses: 'NO_PRIVATE_NETWORKING', os: 'NO_OS_RELEASE_INFORMATION', uid: 'NO_UID_SHIFT' } as const)[what]
    return errorFromCode(code, describer(r.name)(code))
  }

  async osRelease(name: string): Promise<Record<string, string>> {
    const r = await this.#metadata(name)
    if (r.OSRelease === undefined) throw this.#missing(r, 'os')
    const out: Record<string, string> = {}
    for (const line of r.OSRelease) {
      const eq = line.indexOf('=')
      if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1)
    }
    return out
  }

  async addresses(name: string): Promise<MachineAddress[]> {
    const r = await this.#metadata(name)
    if (r.addresses === undefined) throw this.#missing(r, 'addresses')
    return r.addresses.map((a) => ({ family: a.family as 2 | 10, address: formatAddress(a.family, Uint8Array.from(a.address)) }))
  }

  async uidShift(name: string): Promise<number> {
    const r = await this.#metadata(name)
    if (r.UIDShift === undefined) throw this.#missing(r, 'uid')
    return r.UIDShift
  }

  async #copy(method: 'CopyTo' | 'CopyFrom', name: string, source: string, options: CopyOptions): Promise<void> {
    const p: Record<string, unknown> = { name, source }
    if (options.destination !== undefined && options.destination !== '') p.destination = options.destination
    if (options.replace === true) p.replace = true
    await this.#call(method, p, name)
  }

  copyTo(name: string, source: string, options: CopyOptions = {}): Promise<void> {
    return this.#copy('CopyTo', name, source, options)
  }

  copyFrom(name: string, source: string, options: CopyOptions = {}): Promise<void> {
    return this.#copy('CopyFrom', name, source, options)
  }

  async bind(name: string, source: string, options: BindOptions = {}): Promise<void> {
    const p: Record<string, unknown> = { name, source }
    if (options.destination !== undefined && options.destination !== '') p.destination = options.destination
    if (options.readOnly === true) p.readOnly = true
    if (options.mkdir === true) p.mkdir = true
    await this.#call('BindMount', p, name)
  }

  /** The D-Bus client, loaded and connected on first use: a Varlink client that never needs it carries none of its code. */
  #dbus(): Promise<DbusMachinedClient> {
    this.#bus ??= import('./dbus.ts').then((m) => m.DbusMachinedClient.connect(this.#busAddress))
    return this.#bus
  }

  /*
   * Ptys and the root directory go over D-Bus, as they did when this
   * client ran on node:net, which cannot receive the fd that
   * io.systemd.Machine's Open and OpenRootDirectory pass.
   */
  async openRootDirectory(name: string): Promise<number> {
    return (await this.#dbus()).openRootDirectory(name)
  }

  async openPty(name: string): Promise<MachinePty> {
    return (await this.#dbus()).openPty(name)
  }

  async openLogin(name: string): Promise<MachinePty> {
    return (await this.#dbus()).openLogin(name)
  }

  async openShell(name: string, options?: ShellOptions): Promise<MachinePty> {
    return (await this.#dbus()).openShell(name, options)
  }

  watch(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<MachineEvent> {
    const bus = this.#dbus()
    // Hand out the bus client's iterator once the bus is there.
    let inner: AsyncIterableIterator<MachineEvent> | undefined
    const ready = bus.then((b) => { inner = b.watch(options); return inner })
    return {
      next: async () => (await ready).next(),
      return: async () => { await ready.catch(() => undefined); return (await inner?.return?.()) ?? { value: undefined, done: true } },
      [Symbol.asyncIterator]() { return this },
    }
  }

  close(): void {
    this.#conn.close()
    void this.#bus?.then((b) => b.close(), () => undefined)
  }
}
