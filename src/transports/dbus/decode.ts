/**
 * Turning D-Bus bodies (already checked against the method's signature)
 * into the core's requests, and core results into D-Bus values.
 * @module
 */

import { InvalidArgsError } from '../../protocol/errors.ts'
import type { RegisterRequest } from '../../core/register.ts'
import type { ScopeProperty } from '../../core/scope-properties.ts'
import type { Address } from '../../core/ports.ts'
import { isVariant } from '../../wire/dbus/bus.ts'

export function bytes(v: unknown): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(v as ArrayLike<number>)
}

/** a(sv) → named values with their variant signature. */
export function decodePropertyList(v: unknown): ScopeProperty[] {
  return (v as [string, unknown][]).map(([name, value]) => {
    if (!isVariant(value)) throw new InvalidArgsError(`Invalid value for property ${name}`)
    return { name, signature: value.signature, value: value.value }
  })
}

/**
 * The positional Create…/Register… methods: name, id, service, class,
 * leader, root directory, [ifindices], [scope properties].
 */
export function decodeRegister(body: readonly unknown[], options: { network: boolean; create: boolean }): RegisterRequest {
  const [name, id, service, cls, leader, root] = body as [string, unknown, string, string, number, string]
  let i = 6
  const netifs = options.network ? (body[i++] as number[]) : undefined
  const scopeProperties = options.create ? decodePropertyList(body[i]) : []
  return {
    name, id: bytes(id), service, class: cls, leader, rootDirectory: root,
    netifs, allocateUnit: options.create, scopeProperties,
  }
}

interface ExField {
  readonly signature: string
  readonly apply: (r: MutableRegister, value: unknown) => void
}

type MutableRegister = { -readonly [K in keyof RegisterRequest]: RegisterRequest[K] }

/** Property names of CreateMachineEx/RegisterMachineEx (newer systemd's machined-dbus.c, and two of ours). */
const EX_FIELDS: Readonly<Record<string, ExField>> = {
  Id: { signature: 'ay', apply: (r, v) => { r.id = bytes(v) } },
  Service: { signature: 's', apply: (r, v) => { r.service = v as string } },
  Class: { signature: 's', apply: (r, v) => { r.class = v as string } },
  LeaderPID: { signature: 'u', apply: (r, v) => { r.leader = v as number } },
  // A pidfd the client passed: the 'h' value is already the fd as this process received it.
  LeaderPIDFD: { signature: 'h', apply: (r, v) => { r.leaderPidfd = v as number } },
  // 0 means "not given", as in systemd (leader_pidfdid > 0).
  LeaderPIDFDID: { signature: 't', apply: (r, v) => { r.leaderPidfdId = pidfdIdValue(v) } },
  RootDirectory: { signature: 's', apply: (r, v) => { r.rootDirectory = v as string } },
  NetworkInterfaces: { signature: 'ai', apply: (r, v) => { r.netifs = v as number[] } },
  VSockCID: { signature: 'u', apply: (r, v) => { r.vsockCid = v as number } },
  SSHAddress: { signature: 's', apply: (r, v) => { r.sshAddress = v as string } },
  SSHPrivateKeyPath: { signature: 's', apply: (r, v) => { r.sshPrivateKeyPath = v as string } },
  // machined-ts's own (docs/images.md): the pool image the machine runs from, as its launcher found and locked it.
  ImageName: { signature: 's', apply: (r, v) => { r.imageName = v as string } },
  ImagePath: { signature: 's', apply: (r, v) => { r.imagePath = v as string } },
}

function pidfdIdValue(v: unknown): number | undefined {
  const n = v as bigint
  if (n === 0n) return undefined
  // No pidfs inode number comes near 2^53; a bigger one can match no process.
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : Number.MAX_SAFE_INTEGER
}

export function decodeRegisterEx(body: readonly unknown[], options: { create: boolean }): RegisterRequest {
  const request: MutableRegister = {
    name: body[0] as string, id: new Uint8Array(0), service: '', class: '', leader: 0, rootDirectory: '',
    netifs: undefined, allocateUnit: options.create, scopeProperties: options.create ? decodePropertyList(body[2]) : [],
  }
  for (const p of decodePropertyList(body[1])) {
    const field = Object.hasOwn(EX_FIELDS, p.name) ? EX_FIELDS[p.name] : undefined
    if (field === undefined) throw new InvalidArgsError(`Unknown machine property: ${p.name}`, { parameter: p.name })
    if (field.signature !== p.signature) {
      throw new InvalidArgsError(`Invalid type '${p.signature}' for machine property ${p.name}, expecting '${field.signature}'`, { parameter: p.name })
    }
    field.apply(request, p.value)
  }
  return request
}

export function encodeAddresses(addresses: readonly Address[]): [number, Buffer][] {
  return addresses.map((a) => [a.family, Buffer.from(a.address)])
}

export function encodeStringMap(map: ReadonlyMap<string, string>): Record<string, string> {
  return Object.fromEntries(map)
}
