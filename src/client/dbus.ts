/**
 * The client over D-Bus: org.freedesktop.machine1 on the system bus, the
 * same calls machinectl makes.
 * @module
 */

import { machineObjectPath, MACHINE1_PATH } from '../protocol/bus-path.ts'
import { BUS_NAME, MACHINE_INTERFACE_NAME, MANAGER_INTERFACE_NAME } from '../protocol/dbus/org.freedesktop.machine1.ts'
import type { MachineClass, MachineState } from '../protocol/vocabulary.ts'
import { BusConnection, DBusError, variant, type Variant } from '../wire/dbus/bus.ts'
import { fromDbusError, MachinedUnavailableError } from './errors.ts'
import { DbusImageClient } from './images-dbus.ts'
import { DbusTransferClient } from './transfers-dbus.ts'
import { MachinesClient } from './machines.ts'
import { MACHINE_SOCKET_PATH } from '../protocol/varlink/io.systemd.Machine.ts'
import type {
  BindOptions, BusProperty, CopyOptions, KillOptions, MachineAddress, MachineDescription, MachineDetails, MachineEvent, MachinePty, MachineSummary, MachinedClient,
  RegisterOptions, ShellOptions,
} from './types.ts'
import { formatAddress } from '../protocol/address.ts'
import { EventQueue, idBytes, idHex } from './values.ts'

const PROPERTIES = 'org.freedesktop.DBus.Properties'

/** MACHINE_COPY_REPLACE of Copy*MachineWithFlags. */
const MACHINE_COPY_REPLACE = 1n

export class DbusMachinedClient implements MachinedClient {
  readonly transport = 'dbus'
  readonly #bus: BusConnection
  readonly #address: string
  #images: DbusImageClient | undefined
  #transfers: DbusTransferClient | undefined

  private constructor(bus: BusConnection, address: string, varlinkSocket: string) {
    this.#bus = bus
    this.#address = address
    this.#machines = new MachinesClient(varlinkSocket)
  }

  /**
   * `varlinkSocket`: where machined-ts's own calls (start, enable, disable,
   * describe) go, Varlink only. `pipelined`: resolve once Hello is sent, not
   * answered, so the first calls go out behind it, a round trip sooner, for
   * the short-lived tools (mctl, machined-spawn); a bus that refuses the
   * handshake then fails those calls rather than connect().
   */
  static async connect(address: string, varlinkSocket: string = MACHINE_SOCKET_PATH, options: { pipelined?: boolean } = {}): Promise<DbusMachinedClient> {
    // One connection on the native socket, fd passing negotiated, for every call: it starts sooner than
    // node:net's socket, whose modules and stream machinery a short-lived client would load first (bench/README.md).
    const bus = await BusConnection.connect(address, { watchNameOwners: false, unixFd: true, pipelined: options.pipelined === true })
    return new DbusMachinedClient(bus, address, varlinkSocket)
  }

  readonly #machines: MachinesClient

  start(name: string): Promise<void> {
    return this.#machines.start(name)
  }

  enable(name: string): Promise<void> {
    return this.#machines.enable(name)
  }

  disable(name: string): Promise<void> {
    return this.#machines.disable(name)
  }

  describe(name: string): Promise<MachineDescription> {
    return this.#machines.describe(name)
  }

  get images(): DbusImageClient {
    this.#images ??= new DbusImageClient((member, signature, body, options) => this.#call(member, signature, body, options))
    return this.#images
  }

  /** org.freedesktop.import1: each transfer it starts gets a connection of its own (fds, and its signals). */
  get transfers(): DbusTransferClient {
    this.#transfers ??= new DbusTransferClient(this.#address, async () => this.#bus)
    return this.#transfers
  }

  /**
   * Calls a Manager method (or another interface on `path`), turning D-Bus
   * errors into ours; `keepFds`: the reply's fds stay open, the caller's.
   */
  async #call(
    member: string, signature: string, body: readonly unknown[], options: { path?: string; iface?: string; keepFds?: boolean } = {},
  ): Promise<unknown[]> {
    try {
      return await this.#bus.call(BUS_NAME, options.path ?? MACHINE1_PATH, options.iface ?? MANAGER_INTERFACE_NAME, member, signature, body, {
        keepFds: options.keepFds === true,
      })
    } catch (err) {
      if (err instanceof DBusError) throw fromDbusError(err.type, err.message)
      throw err
    }
  }

  /** Whether org.freedesktop.machine1 is owned or can be activated on this bus. */
  async available(): Promise<boolean> {
    const [owned] = await this.#bus.callDriver('NameHasOwner', 's', [BUS_NAME])
    if (owned === true) return true
    const [activatable] = await this.#bus.callDriver('ListActivatableNames', '', [])
    return Array.isArray(activatable) && activatable.includes(BUS_NAME)
  }

  /** Whether org.freedesktop.machine1 has an owner right now (no activation). */
  async isRunning(): Promise<boolean> {
    const [owned] = await this.#bus.callDriver('NameHasOwner', 's', [BUS_NAME])
    return owned === true
  }

  /**
   * Has the bus start org.freedesktop.machine1 (StartServiceByName), for
   * tools that want a clear answer before their first call. Rejects with
   * MachinedUnavailableError when the bus cannot start it.
   */
  async activate(): Promise<void> {
    try {
      await this.#bus.callDriver('StartServiceByName', 'su', [BUS_NAME, 0])
    } catch (err) {
      if (err instanceof DBusError) throw new MachinedUnavailableError(`The bus could not start ${BUS_NAME}: ${err.message}`, { cause: err })
      throw err
    }
  }

  async register(o: RegisterOptions): Promise<void> {
    const create = o.allocateUnit === true
    const id = idBytes(o.id)
    const leader = o.leader ?? 0 // 0: the caller, which is us
    const extras = o.vsockCid !== undefined || o.sshAddress !== undefined || o.sshPrivateKeyPath !== undefined
    const scope = (o.scopeProperties ?? []).map((p) => [p.name, variant(p.signature, p.value)])
    const args = [o.name, id, o.service ?? '', o.class, leader, o.rootDirectory ?? '', [...(o.networkInterfaces ?? [])]]
    const classic = async (): Promise<void> => {
      if (create) await this.#call('CreateMachineWithNetwork', 'sayssusaia(sv)', [...args, scope])
      else await this.#call('RegisterMachineWithNetwork', 'sayssusai', args)
    }
    if (!extras && o.image === undefined) return classic()
    // Only the property-dictionary methods of newer systemd carry these.
    const props: [string, unknown][] = [['Id', variant('ay', id)], ['Class', variant('s', o.class)], ['Service', variant('s', o.service ?? '')],
      ['RootDirectory', variant('s', o.rootDirectory ?? '')], ['NetworkInterfaces', variant('ai', [...(o.networkInterfaces ?? [])])]]
    if (leader !== 0) props.push(['LeaderPID', variant('u', leader)])
    if (o.vsockCid !== undefined) props.push(['VSockCID', variant('u', o.vsockCid)])
    if (o.sshAddress !== undefined) props.push(['SSHAddress', variant('s', o.sshAddress)])
    if (o.sshPrivateKeyPath !== undefined) props.push(['SSHPrivateKeyPath', variant('s', o.sshPrivateKeyPath)])
    if (o.image !== undefined) props.push(['ImageName', variant('s', o.image.name)], ['ImagePath', variant('s', o.image.path)])
    const [member, signature, body] = create ? ['CreateMachineEx', 'sa(sv)a(sv)', [o.name, props, scope]] : ['RegisterMachineEx', 'sa(sv)', [o.name, props]]
    try {
      await this.#bus.call(BUS_NAME, MACHINE1_PATH, MANAGER_INTERFACE_NAME, member, signature, body)
    } catch (err) {
      if (!(err instanceof DBusError)) throw err
      // The image is machined-ts's alone: systemd-machined 252 has no *Ex methods, newer ones refuse the property.
      // Registering without it is what such a machined can do.
      const unknown = err.type === 'org.freedesktop.DBus.Error.UnknownMethod' || (err.type === 'org.freedesktop.DBus.Error.InvalidArgs' && /\bImage(Name|Path)\b/.test(err.message))
      if (extras || !unknown) throw fromDbusError(err.type, err.message)
      await classic()
    }
  }

  async unregister(name: string): Promise<void> {
    await this.#call('UnregisterMachine', 's', [name])
  }

  async terminate(name: string): Promise<void> {
    await this.#call('TerminateMachine', 's', [name])
  }

  async kill(name: string, options: KillOptions = {}): Promise<void> {
    await this.#call('KillMachine', 'ssi', [name, options.whom ?? 'all', options.signal ?? 15])
  }

  async list(): Promise<MachineSummary[]> {
    const [rows] = await this.#call('ListMachines', '', [])
    return (rows as [string, string, string, string][]).map(([name, cls, service]) => ({ name, class: cls as MachineClass | '', service }))
  }

  async get(name: string): Promise<MachineDetails> {
    const [path] = await this.#call('GetMachine', 's', [name])
    const [props] = await this.#call('GetAll', 's', [MACHINE_INTERFACE_NAME], { path: path as string, iface: PROPERTIES })
    const p = props as Record<string, { value: unknown } | undefined>
    const v = <T>(key: string, fallback: T): T => (p[key]?.value as T | undefined) ?? fallback
    return {
      name: v('Name', name),
      id: idHex(v<Uint8Array>('Id', new Uint8Array(0))),
      class: v<MachineClass | ''>('Class', ''),
      service: v('Service', ''),
      unit: v('Unit', ''),
      leader: v('Leader', 0),
      rootDirectory: v('RootDirectory', ''),
      timestamp: { realtime: v('Timestamp', 0n), monotonic: v('TimestampMonotonic', 0n) },
      networkInterfaces: v<number[]>('NetworkInterfaces', []),
      state: v<MachineState | undefined>('State', undefined),
    }
  }

  /** GetMachine: the object path of a machine (NoSuchMachineError when there is none). */
  async machinePath(name: string): Promise<string> {
    const [path] = await this.#call('GetMachine', 's', [name])
    return path as string
  }

  /**
   * Properties.GetAll("") on `path` (the Manager's by default), in the
   * daemon's order and with the signature each value was sent with: what a
   * tool needs to print them by type, as `machinectl show` does.
   */
  async propertyList(path: string = MACHINE1_PATH): Promise<BusProperty[]> {
    const [props] = await this.#call('GetAll', 's', [''], { path, iface: PROPERTIES })
    return Object.entries(props as Record<string, Variant>).map(([name, v]) => ({ name, signature: v.signature, value: v.value }))
  }

  /** The Manager's properties (PoolPath, PoolUsage, PoolLimit), as `machinectl show` prints them. */
  async managerProperties(): Promise<Record<string, unknown>> {
    const [props] = await this.#call('GetAll', 's', [''], { iface: PROPERTIES })
    return Object.fromEntries(Object.entries(props as Record<string, { value: unknown }>).map(([k, w]) => [k, w.value]))
  }

  /** All properties of a machine object, as `machinectl show NAME` prints them. */
  async machineProperties(name: string): Promise<Record<string, unknown>> {
    const [path] = await this.#call('GetMachine', 's', [name])
    const [props] = await this.#call('GetAll', 's', [''], { path: path as string, iface: PROPERTIES })
    return Object.fromEntries(Object.entries(props as Record<string, { value: unknown }>).map(([k, w]) => [k, w.value]))
  }

  async osRelease(name: string): Promise<Record<string, string>> {
    const [fields] = await this.#call('GetMachineOSRelease', 's', [name])
    return fields as Record<string, string>
  }

  async addresses(name: string): Promise<MachineAddress[]> {
    const [rows] = await this.#call('GetMachineAddresses', 's', [name])
    return (rows as [number, Uint8Array][]).map(([family, bytes]) => ({ family: family as 2 | 10, address: formatAddress(family, bytes) }))
  }

  async uidShift(name: string): Promise<number> {
    const [shift] = await this.#call('GetMachineUIDShift', 's', [name])
    return shift as number
  }

  /** As machinectl: the *WithFlags method only when a flag is set. */
  async #copy(name: string, direction: 'From' | 'To', source: string, options: CopyOptions): Promise<void> {
    const destination = options.destination ?? ''
    if (options.replace === true) await this.#call(`Copy${direction}MachineWithFlags`, 'ssst', [name, source, destination, MACHINE_COPY_REPLACE])
    else await this.#call(`Copy${direction}Machine`, 'sss', [name, source, destination])
  }

  copyTo(name: string, source: string, options: CopyOptions = {}): Promise<void> {
    return this.#copy(name, 'To', source, options)
  }

  copyFrom(name: string, source: string, options: CopyOptions = {}): Promise<void> {
    return this.#copy(name, 'From', source, options)
  }

  async bind(name: string, source: string, options: BindOptions = {}): Promise<void> {
    await this.#call('BindMountMachine', 'sssbb', [name, source, options.destination ?? '', options.readOnly === true, options.mkdir === true])
  }

  /** OpenMachineRootDirectory: the fd is the caller's to close. */
  async openRootDirectory(name: string): Promise<number> {
    const [fd] = await this.#call('OpenMachineRootDirectory', 's', [name], { keepFds: true })
    return fd as number
  }

  /** A reply (h, s): the pty's master and its path. */
  async #ptyCall(member: string, signature: string, body: readonly unknown[]): Promise<MachinePty> {
    const reply = await this.#call(member, signature, body, { keepFds: true })
    return { fd: reply[0] as number, path: reply[1] as string }
  }

  async openPty(name: string): Promise<MachinePty> {
    return this.#ptyCall('OpenMachinePTY', 's', [name])
  }

  async openLogin(name: string): Promise<MachinePty> {
    return this.#ptyCall('OpenMachineLogin', 's', [name])
  }

  async openShell(name: string, o: ShellOptions = {}): Promise<MachinePty> {
    return this.#ptyCall('OpenMachineShell', 'sssasas', [name, o.user ?? '', o.path ?? '', [...(o.args ?? [])], [...(o.environment ?? [])]])
  }

  watch(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<MachineEvent> {
    let active = true
    const queue = new EventQueue<MachineEvent>(() => { active = false }, options.signal)
    const rule = `type='signal',sender='${BUS_NAME}',path='${MACHINE1_PATH}',interface='${MANAGER_INTERFACE_NAME}'`
    this.#bus.subscribe(rule, (s) => {
      if (!active || s.path !== MACHINE1_PATH) return
      const name = s.body[0]
      if (typeof name !== 'string') return
      if (s.member === 'MachineNew') queue.push({ type: 'new', name })
      else if (s.member === 'MachineRemoved') queue.push({ type: 'removed', name })
    }).catch(() => { void queue.return() })
    return queue
  }

  close(): void {
    this.#machines.close()
    this.#bus.close()
  }

  /** For tools that print object paths (busctl-style). */
  static pathOf(name: string): string {
    return machineObjectPath(name)
  }
}
