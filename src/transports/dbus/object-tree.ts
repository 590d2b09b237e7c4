/**
 * Routes one incoming method call the way sd-bus's object dispatcher does:
 * Peer on any path, Introspectable on any registered object or parent
 * node, Properties with sd-bus's own argument checks and error texts, then
 * the object's interface, whose signature must match exactly. Every error
 * text here is the one sd-bus writes (test/fixtures/machined-252, notes in
 * docs/compat.md).
 * @module
 */

import { inSignature, type InterfaceDescription, type MethodDescription } from '../../protocol/dbus/org.freedesktop.machine1.ts'
import { variant, type IncomingCall, type MarshalledBody } from '../../wire/dbus/bus.ts'
import { DbusProtocolError, SD_BUS_ERROR } from './errors.ts'
import { introspectXml } from './introspect.ts'

export interface Reply {
  readonly signature: string
  /** The values, or a body marshalled once (a reply that stays the same from call to call). */
  readonly body: readonly unknown[] | MarshalledBody
}

export const EMPTY_REPLY: Reply = { signature: '', body: [] }

export type MethodHandler = (call: IncomingCall) => Promise<Reply>

export interface ObjectInterface {
  readonly description: InterfaceDescription
  /** Fetches what the properties show (asynchronous work, e.g. an image's disk usage) before any of them is read. */
  prepare?(): Promise<void>
  /** Current value of a property, as the marshaller wants it for its signature. */
  property(name: string): unknown
  readonly methods: Readonly<Record<string, MethodHandler>>
}

/**
 * What a path names: an object with interfaces; a "fallback" node, where
 * sd-bus has an enumerator (it answers GetAll "" with nothing); or a bare
 * parent node that only introspects.
 */
export type Resolved =
  | { readonly kind: 'object'; readonly interfaces: readonly ObjectInterface[]; readonly children: readonly string[] }
  | { readonly kind: 'fallback'; readonly children: readonly string[] }
  | { readonly kind: 'node'; readonly children: readonly string[] }

export type Resolver = (path: string, call: IncomingCall) => Promise<Resolved | undefined>

const PEER = 'org.freedesktop.DBus.Peer'
const INTROSPECTABLE = 'org.freedesktop.DBus.Introspectable'
const PROPERTIES = 'org.freedesktop.DBus.Properties'
const STANDARD = [PEER, INTROSPECTABLE, PROPERTIES]

function unknownObject(path: string): DbusProtocolError {
  return new DbusProtocolError(SD_BUS_ERROR.UNKNOWN_OBJECT, `Unknown object '${path}'.`)
}

function unknownMethod(member: string, iface: string): DbusProtocolError {
  return new DbusProtocolError(SD_BUS_ERROR.UNKNOWN_METHOD, `Unknown method ${member} or interface ${iface}.`)
}

function unknownProperty(iface: string, name: string): DbusProtocolError {
  return new DbusProtocolError(SD_BUS_ERROR.UNKNOWN_PROPERTY, `Unknown interface ${iface} or property ${name}.`)
}

/** A method of an interface, with its input signature worked out once. */
interface MethodEntry {
  readonly method: MethodDescription
  readonly signature: string
}

/**
 * Each interface's methods by name, made on first use: every call looks
 * its method up, and a linear search with a signature rebuilt per call
 * cost more than a map. Keyed by the descriptions, which are constants.
 */
const methodTables = new WeakMap<InterfaceDescription, ReadonlyMap<string, MethodEntry>>()

function methodsOf(description: InterfaceDescription): ReadonlyMap<string, MethodEntry> {
  let table = methodTables.get(description)
  if (table === undefined) {
    const made = new Map<string, MethodEntry>()
    // The first of a name wins, as a search from the start would find it.
    for (const method of description.methods) if (!made.has(method.name)) made.set(method.name, { method, signature: inSignature(method) })
    table = made
    methodTables.set(description, table)
  }
  return table
}

function checkSignature(call: IncomingCall, iface: string, { method, signature: expected }: MethodEntry): void {
  if (call.signature !== expected) {
    throw new DbusProtocolError(
      SD_BUS_ERROR.INVALID_ARGS,
      `Invalid arguments '${call.signature}' to call ${iface}.${method.name}(), expecting '${expected}'.`,
    )
  }
}

export interface ObjectTreeOptions {
  readonly resolve: Resolver
  readonly machineId: () => string
  /**
   * sd-bus refuses a method without SD_BUS_VTABLE_UNPRIVILEGED to callers
   * lacking CAP_SYS_ADMIN before it even looks at the arguments.
   */
  readonly checkPrivileged: (call: IncomingCall, iface: string, method: string) => Promise<void>
}

export class ObjectTree {
  readonly #resolve: Resolver
  readonly #machineId: () => string
  readonly #checkPrivileged: ObjectTreeOptions['checkPrivileged']

  constructor(options: ObjectTreeOptions) {
    this.#resolve = options.resolve
    this.#machineId = options.machineId
    this.#checkPrivileged = options.checkPrivileged
  }

  async dispatch(call: IncomingCall): Promise<Reply> {
    const iface = call.interface
    // sd-bus finds no vtable without an interface field, whatever the path.
    if (iface === undefined) throw unknownObject(call.path)
    if (iface === PEER) return this.#peer(call)
    const target = await this.#resolve(call.path, call)
    if (target === undefined) throw unknownObject(call.path)
    if (iface === INTROSPECTABLE) {
      if (call.member !== 'Introspect') throw unknownMethod(call.member, iface)
      if (call.signature !== '') throw new DbusProtocolError(SD_BUS_ERROR.INVALID_ARGS, 'Expected no parameters')
      const interfaces = target.kind === 'object' ? target.interfaces.map((i) => i.description) : []
      return { signature: 's', body: [introspectXml(interfaces, target.children)] }
    }
    if (target.kind === 'node') throw unknownObject(call.path)
    if (iface === PROPERTIES) {
      const interfaces = target.kind === 'object' ? target.interfaces : []
      if (call.member !== 'Set') for (const i of interfaces) await i.prepare?.()
      return this.#properties(call, interfaces)
    }
    const found = target.kind === 'object' ? target.interfaces.find((i) => i.description.name === iface) : undefined
    const entry = found === undefined ? undefined : methodsOf(found.description).get(call.member)
    const handler = entry === undefined ? undefined : found?.methods[entry.method.name]
    if (found === undefined || entry === undefined || handler === undefined) throw unknownMethod(call.member, iface)
    if (entry.method.privileged === true) await this.#checkPrivileged(call, iface, entry.method.name)
    checkSignature(call, iface, entry)
    return handler(call)
  }

  #peer(call: IncomingCall): Reply {
    if (call.member === 'Ping') return EMPTY_REPLY
    if (call.member === 'GetMachineId') return { signature: 's', body: [this.#machineId()] }
    throw unknownMethod(call.member, PEER)
  }

  #properties(call: IncomingCall, interfaces: readonly ObjectInterface[]): Reply {
    const args = call.body
    // sd-bus reads only the leading arguments it needs and ignores the rest.
    const strings = (n: number): boolean => call.signature.length >= n && [...call.signature.slice(0, n)].every((c) => c === 's')
    switch (call.member) {
      case 'Get': {
        if (!strings(2)) throw new DbusProtocolError(SD_BUS_ERROR.INVALID_ARGS, 'Expected interface and member parameters')
        const [ifaceName, prop] = args as [string, string]
        const found = interfaces.find((i) => i.description.name === ifaceName)
        const desc = found?.description.properties.find((p) => p.name === prop)
        if (found === undefined || desc === undefined) throw unknownProperty(ifaceName, prop)
        return { signature: 'v', body: [variant(desc.type, found.property(prop))] }
      }
      case 'GetAll': {
        if (!strings(1)) throw new DbusProtocolError(SD_BUS_ERROR.INVALID_ARGS, 'Expected interface parameter')
        const ifaceName = args[0] as string
        const selected = ifaceName === '' ? interfaces : interfaces.filter((i) => i.description.name === ifaceName)
        if (selected.length === 0 && ifaceName !== '' && !STANDARD.includes(ifaceName)) {
          throw new DbusProtocolError(SD_BUS_ERROR.UNKNOWN_INTERFACE, `Unknown interface '${ifaceName}'.`)
        }
        const all: Record<string, unknown> = {}
        for (const i of selected) for (const p of i.description.properties) all[p.name] = variant(p.type, i.property(p.name))
        return { signature: 'a{sv}', body: [all] }
      }
      case 'Set': {
        if (!strings(2)) throw new DbusProtocolError(SD_BUS_ERROR.INVALID_ARGS, 'Expected interface and member parameters')
        const [ifaceName, prop] = args as [string, string]
        const found = interfaces.find((i) => i.description.name === ifaceName)
        if (found?.description.properties.some((p) => p.name === prop) !== true) throw unknownProperty(ifaceName, prop)
        // Every property machine1 has is read-only; sd-bus says so before it looks at the value.
        throw new DbusProtocolError(SD_BUS_ERROR.PROPERTY_READ_ONLY, `Property '${prop}' is not writable.`)
      }
      default:
        throw unknownMethod(call.member, PROPERTIES)
    }
  }
}
