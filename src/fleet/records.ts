/**
 * The values under the fleet's keys (docs/fleet.md): a host record and one
 * record per machine, JSON, with machined's own field names. Encoding is
 * ours; decoding treats the bytes as untrusted input, since anybody with
 * write access to the prefix (or a corrupt store) can put anything there:
 * sizes and counts are bounded, every field is type- and range-checked,
 * strings carry no control characters (they end up on terminals), and a
 * value that fails is refused whole with a reason, never half-read.
 * Unknown fields are ignored, so newer publishers can add some.
 * @module
 */

import { isAscii, isUtf8 } from 'node:buffer'
import { isIP } from 'node:net'
import { hostnameIsValid } from '../protocol/hostname.ts'
import { isValidMachineId } from '../protocol/machine-id.ts'
import { machineClassFromString, machineStateFromString, type MachineClass, type MachineState } from '../protocol/vocabulary.ts'

export interface HostRecord {
  /** The host's name as its kernel reports it (uname -n). */
  readonly hostname: string
  /** /proc/sys/kernel/random/boot_id without dashes; '' when unknown. */
  readonly bootId: string
  /** Who publishes, e.g. "machined-ts 0.1.0". */
  readonly software: string
}

export interface FleetAddress {
  readonly family: 2 | 10
  readonly address: string
}

export interface MachineRecord {
  readonly name: string
  /** 32 lower-case hex digits, '' for none. */
  readonly id: string
  readonly class: MachineClass | undefined
  readonly service: string
  readonly state: MachineState
  /** The leader's PID on its host (0: unknown). */
  readonly leader: number
  readonly rootDirectory: string
  readonly unit: string
  /** CLOCK_REALTIME of the registration in µs, decimal (0: unknown). Shown, never used for liveness. */
  readonly timestamp: string
  readonly networkInterfaces: readonly number[]
  readonly vSockCid: number | undefined
  readonly sshAddress: string | undefined
  /** The machine's os-release fields (ID, VERSION_ID, PRETTY_NAME, …); empty when unknown. */
  readonly osRelease: Readonly<Record<string, string>>
  readonly addresses: readonly FleetAddress[]
}

/** A value larger than this is refused unread (ours are a few hundred bytes). */
export const MAX_VALUE_BYTES = 64 * 1024
const MAX_STRING = 4096
const MAX_LIST = 256
const MAX_OS_FIELDS = 64

export function encodeHostRecord(r: HostRecord): Buffer {
  return Buffer.from(JSON.stringify({ hostname: r.hostname, bootId: r.bootId, software: r.software }))
}

export function encodeMachineRecord(r: MachineRecord): Buffer {
  return Buffer.from(JSON.stringify({
    name: r.name, id: r.id, class: r.class ?? '', service: r.service, state: r.state, leader: r.leader,
    rootDirectory: r.rootDirectory, unit: r.unit, timestamp: r.timestamp, networkInterfaces: r.networkInterfaces,
    ...(r.vSockCid === undefined ? {} : { vSockCid: r.vSockCid }),
    ...(r.sshAddress === undefined ? {} : { sshAddress: r.sshAddress }),
    osRelease: r.osRelease, addresses: r.addresses,
  }))
}

/** The bytes as a Buffer, copying nothing (the etcd3 client's are Buffers already). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
}

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string }

class Refused extends Error {}

// C0 and C1 controls and DEL (\p{Cc}, spelled as ranges: a Unicode-mode regex costs more per string): nothing a terminal would act on gets through.
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
/**
 * What a JSON text needs to hold for any of its strings to hold a control
 * character: JSON allows C0 controls in strings only escaped, so a
 * backslash, or DEL and C1 controls as they are.
 */
const MAYBE_CONTROL = /[\\\u007f-\u009f]/

/** A JSON object's fields, read with checks; `plain`: its text could hold no control character in any string. */
class Fields {
  readonly o: Record<string, unknown>
  readonly #plain: boolean

  constructor(o: Record<string, unknown>, plain: boolean) {
    this.o = o
    this.#plain = plain
  }

  /** A nested object of the same text. */
  of(v: Record<string, unknown>): Fields {
    return new Fields(v, this.#plain)
  }

  str(field: string, fallback = ''): string {
    const v = this.o[field]
    if (v === undefined) return fallback
    if (typeof v !== 'string') throw new Refused(`${field} is not a string`)
    if (v.length > MAX_STRING) throw new Refused(`${field} is too long`)
    if (!this.#plain && CONTROL.test(v)) throw new Refused(`${field} has control characters`)
    return v
  }

  int(field: string, min: number, max: number): number | undefined {
    const v = this.o[field]
    if (v === undefined) return undefined
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new Refused(`${field} is not an integer in ${min}…${max}`)
    return v
  }

  list(field: string): unknown[] {
    const v = this.o[field]
    if (v === undefined) return []
    if (!Array.isArray(v)) throw new Refused(`${field} is not a list`)
    if (v.length > MAX_LIST) throw new Refused(`${field} has more than ${MAX_LIST} entries`)
    return v
  }
}

function parseObject(bytes: Uint8Array): Fields {
  if (bytes.length > MAX_VALUE_BYTES) throw new Refused(`value of ${bytes.length} bytes (limit ${MAX_VALUE_BYTES})`)
  // isUtf8() and toString() cost a tenth of a fatal TextDecoder's decode() on values this small;
  // ASCII (every record of ours unless a name or os-release field is not) is decoded as Latin-1, a plain copy.
  const buffer = asBuffer(bytes)
  let text: string
  if (isAscii(buffer)) text = buffer.toString('latin1')
  else if (isUtf8(buffer)) text = buffer.toString('utf8')
  else throw new Refused('value is not UTF-8')
  let v: unknown
  try { v = JSON.parse(text) } catch { throw new Refused('value is not JSON') }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Refused('value is not a JSON object')
  // One look at the whole text usually spares a look at each of its strings.
  return new Fields(v as Record<string, unknown>, !MAYBE_CONTROL.test(text))
}

function decode<T>(parse: () => T): Decoded<T> {
  try {
    return { ok: true, value: parse() }
  } catch (err) {
    if (err instanceof Refused) return { ok: false, reason: err.message }
    throw err
  }
}

export function decodeHostRecord(bytes: Uint8Array): Decoded<HostRecord> {
  return decode(() => {
    const f = parseObject(bytes)
    const hostname = f.str('hostname')
    // The kernel's name may be anything sethostname() took, but ours is shown in a table: ask for a sane one.
    if (!hostnameIsValid(hostname)) throw new Refused('hostname is not a valid host name')
    const bootId = f.str('bootId')
    if (bootId !== '' && !isValidMachineId(bootId)) throw new Refused('bootId is not an ID')
    return { hostname, bootId, software: f.str('software') }
  })
}

function addressOf(record: Fields, v: unknown): FleetAddress {
  if (typeof v !== 'object' || v === null) throw new Refused('an address is not an object')
  const f = record.of(v as Record<string, unknown>)
  const family = f.int('family', 0, 255)
  const address = f.str('address')
  if ((family === 2 && isIP(address) === 4) || (family === 10 && isIP(address) === 6)) return { family, address }
  throw new Refused('an address is not an IPv4 or IPv6 address of its family')
}

// os-release(5): variable names are upper-case letters, digits and underscores.
const OS_FIELD_NAME = /^[A-Z][A-Z0-9_]{0,63}$/
const MACHINE_ID = /^[0-9a-f]{32}$/
const MICROSECONDS = /^(0|[1-9][0-9]{0,19})$/

function osReleaseOf(record: Fields, v: unknown): Record<string, string> {
  if (v === undefined) return {}
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Refused('osRelease is not an object')
  const f = record.of(v as Record<string, unknown>)
  // JSON.parse() made a plain object of own properties, which for…in walks. Once every name
  // (so no "__proto__") and every value has passed, the object is the record's own.
  let fields = 0
  for (const key in f.o) {
    if (++fields > MAX_OS_FIELDS) throw new Refused(`osRelease has more than ${MAX_OS_FIELDS} fields`)
    if (!OS_FIELD_NAME.test(key)) throw new Refused('osRelease has an invalid field name')
    f.str(key)
  }
  return f.o as Record<string, string>
}

/** A machine record, which must name the machine its key names. */
export function decodeMachineRecord(bytes: Uint8Array, keyName: string): Decoded<MachineRecord> {
  return decode(() => {
    const f = parseObject(bytes)
    const name = f.str('name')
    if (name !== keyName) throw new Refused('name differs from the key')
    const id = f.str('id')
    if (id !== '' && !MACHINE_ID.test(id)) throw new Refused('id is not 32 hex digits')
    const classText = f.str('class')
    const cls = classText === '' ? undefined : machineClassFromString(classText)
    if (classText !== '' && cls === undefined) throw new Refused('class is unknown')
    const state = machineStateFromString(f.str('state', 'running'))
    if (state === undefined) throw new Refused('state is unknown')
    const timestamp = f.str('timestamp', '0')
    // Only 20 digits can pass 2^64 - 1.
    if (!MICROSECONDS.test(timestamp) || (timestamp.length === 20 && BigInt(timestamp) > 0xffffffffffffffffn)) throw new Refused('timestamp is not a number of µs')
    // Checked where JSON.parse() made it: nothing but the numbers checked can be in it.
    const networkInterfaces = f.list('networkInterfaces') as number[]
    for (let i = 0; i < networkInterfaces.length; i++) {
      const n = networkInterfaces[i]
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 0x7fffffff) throw new Refused('networkInterfaces has an invalid index')
    }
    const sshAddress = f.o.sshAddress === undefined ? undefined : f.str('sshAddress')
    return {
      name, id, class: cls, service: f.str('service'), state,
      leader: f.int('leader', 0, 0x7fffffff) ?? 0,
      rootDirectory: f.str('rootDirectory'), unit: f.str('unit'), timestamp, networkInterfaces,
      vSockCid: f.int('vSockCid', 0, 0xffffffff), sshAddress,
      osRelease: osReleaseOf(f, f.o.osRelease), addresses: f.list('addresses').map((a) => addressOf(f, a)),
    }
  })
}
