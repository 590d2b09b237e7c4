/**
 * The D-Bus face of the daemon: owns org.freedesktop.machine1 on a bus,
 * maps object paths to the Manager and Machine objects, answers every call
 * (errors mapped in one place), and turns core events into MachineNew and
 * MachineRemoved.
 * @module
 */

import { BUS_NAME, MANAGER_INTERFACE_NAME } from '../../protocol/dbus/org.freedesktop.machine1.ts'
import { busLabelEscape, busLabelUnescape, MACHINE1_PATH, MACHINE_PATH_PREFIX, machineObjectPath } from '../../protocol/bus-path.ts'
import { IMAGE_PATH_PREFIX } from '../../protocol/image.ts'
import { findImage } from '../../core/image-control.ts'
import type { Caller } from '../../core/authorization.ts'
import type { Manager } from '../../core/manager.ts'
import type { Disposable, Log } from '../../core/ports.ts'
import type { BusConnection, IncomingCall } from '../../wire/dbus/bus.ts'
import { CredentialsCache } from './credentials.ts'
import { CallLoop } from './call-loop.ts'
import { DbusProtocolError } from './errors.ts'
import { machineObject, type DbusContext } from './machine.ts'
import { imageObject } from './image.ts'
import { MachineListReply } from './list-machines.ts'
import { managerObject } from './manager.ts'
import { ObjectTree, type Resolved } from './object-tree.ts'

const PROPERTIES_INTERFACE = 'org.freedesktop.DBus.Properties'

export interface DbusServerOptions {
  readonly bus: BusConnection
  readonly manager: Manager
  readonly log: Log
  /** /etc/machine-id as 32 hex digits, for org.freedesktop.DBus.Peer.GetMachineId. */
  readonly machineId: string
  /** Unprivileged callers may call the privileged Create…/Register… methods (the core still checks ownership). */
  readonly allowUserRegistration: boolean
  /**
   * Calls one sender may have in flight at once (dbus-daemon's own
   * max_replies_per_connection is 128 too); the next one is answered
   * LimitsExceeded at once, without being looked at.
   */
  readonly maxPendingPerSender: number
}

/** Parent nodes sd-bus introspects on the way down to our objects. */
const PARENT_NODES: Readonly<Record<string, string>> = {
  '/': 'org',
  '/org': 'freedesktop',
  '/org/freedesktop': 'machine1',
}

export class DbusServer implements Disposable {
  readonly #bus: BusConnection
  readonly #manager: Manager
  readonly #credentials: CredentialsCache
  readonly #tree: ObjectTree
  /** What /org/freedesktop/machine1 resolves to: the same for every call, so made once. */
  readonly #managerNode: Resolved
  readonly #ctx: DbusContext
  readonly #subscription: Disposable
  readonly #machineList: MachineListReply
  /**
   * Signals held until org.freedesktop.machine1 is ours (requestName()):
   * the bus lets a signal through a match on that name only from its
   * owner, so the MachineNew of every machine loaded at start-up would
   * reach none of the sd-bus clients that match on it. systemd-machined
   * asks for the name before it loads its machines, so its MachineNew
   * come after it too. Nothing is held once the name is ours.
   */
  #held: [member: string, name: string][] | undefined = []

  constructor(options: DbusServerOptions) {
    this.#bus = options.bus
    this.#manager = options.manager
    this.#credentials = new CredentialsCache(options.bus)
    this.#ctx = { manager: options.manager, callerOf: (call) => this.#callerOf(call) }
    this.#machineList = new MachineListReply(options.manager)
    this.#managerNode = { kind: 'object', interfaces: [managerObject(this.#ctx, this.#machineList)], children: ['image', 'machine'] }
    this.#tree = new ObjectTree({
      resolve: (path, call) => this.#resolve(path, call),
      machineId: () => options.machineId,
      checkPrivileged: async (call, iface, member) => {
        const caller = await this.#callerOf(call)
        if (caller.uid === 0 || options.allowUserRegistration) return
        throw new DbusProtocolError('org.freedesktop.DBus.Error.AccessDenied', `Access to ${iface}.${member}() not permitted.`)
      },
    })
    const calls = new CallLoop({ bus: options.bus, log: options.log, maxPendingPerSender: options.maxPendingPerSender, dispatch: (call) => this.#tree.dispatch(call) })
    this.#bus.onCall((call) => {
      this.#credentials.prefetch(call.sender)
      calls.answer(call)
    })
    this.#subscription = this.#manager.on({
      // Sent before the reply to the call that caused them, as systemd does.
      machineNew: (m) => this.#signal('MachineNew', m.name),
      machineRemoved: (m) => this.#signal('MachineRemoved', m.name),
    })
  }

  /** Claims org.freedesktop.machine1; throws when someone else has it. */
  async requestName(): Promise<void> {
    const code = await this.#bus.requestName(BUS_NAME)
    // 1 = primary owner, 4 = already owner.
    if (code !== 1 && code !== 4) throw new Error(`${BUS_NAME} is owned by another process (RequestName answered ${code})`)
    const held = this.#held ?? []
    this.#held = undefined
    for (const [member, name] of held) this.#emit(member, name)
  }

  #signal(member: string, name: string): void {
    if (this.#held === undefined) this.#emit(member, name)
    else this.#held.push([member, name])
  }

  #emit(member: string, name: string): void {
    this.#bus.emitSignal(MACHINE1_PATH, MANAGER_INTERFACE_NAME, member, 'so', [name, machineObjectPath(name)])
  }

  #callerOf(call: IncomingCall): Promise<Caller> {
    return this.#credentials.callerOf(call.sender)
  }

  async #resolve(path: string, call: IncomingCall): Promise<Resolved | undefined> {
    const parent = PARENT_NODES[path]
    if (parent !== undefined) return { kind: 'node', children: [parent] }
    if (path === MACHINE1_PATH) return this.#managerNode
    if (path === MACHINE_PATH_PREFIX) {
      return { kind: 'fallback', children: this.#manager.list().map((m) => busLabelEscape(m.name)) }
    }
    if (path === IMAGE_PATH_PREFIX) {
      // image_node_enumerator(): every image there is, looked for only when asked.
      const children = call.interface === 'org.freedesktop.DBus.Introspectable' ? (await this.#manager.ports.images.discover()).map((i) => busLabelEscape(i.name)) : []
      return { kind: 'fallback', children }
    }
    if (path.startsWith(`${IMAGE_PATH_PREFIX}/`)) return this.#resolveImage(path.slice(IMAGE_PATH_PREFIX.length + 1))
    if (!path.startsWith(`${MACHINE_PATH_PREFIX}/`)) return undefined
    const label = path.slice(MACHINE_PATH_PREFIX.length + 1)
    if (label.includes('/')) return undefined
    let machine
    if (label === 'self') {
      // The caller's own machine, found the way GetMachineByPID(0) finds it.
      machine = await this.#manager.getByPid(0, await this.#callerOf(call)).catch(() => undefined)
    } else {
      const name = busLabelUnescape(label)
      machine = name === undefined ? undefined : this.#manager.find(name)
    }
    if (machine === undefined) return undefined
    // Only property reads show fields; the caller is asked for only then (fail closed if the bus cannot say).
    const caller = call.interface === PROPERTIES_INTERFACE ? await this.#callerOf(call).catch(() => undefined) : undefined
    return { kind: 'object', interfaces: [machineObject(this.#ctx, machine, this.#manager.view(machine, caller))], children: [] }
  }

  /** image_object_find(): the image a label names, found afresh for every call (as systemd's per-iteration image cache). */
  async #resolveImage(label: string): Promise<Resolved | undefined> {
    const name = label.includes('/') ? undefined : busLabelUnescape(label)
    const image = name === undefined ? undefined : await findImage(this.#manager, name)
    return image === undefined ? undefined : { kind: 'object', interfaces: [imageObject(this.#ctx, image)], children: [] }
  }

  /** Drops what the server can make again (the marshalled ListMachines reply); returns the bytes let go of. */
  forgetCaches(): number {
    return this.#machineList.forget()
  }

  dispose(): void {
    this.#subscription.dispose()
    this.#machineList.dispose()
  }
}
