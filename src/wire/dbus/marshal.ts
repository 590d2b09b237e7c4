/**
 * Marshalling: JS values → D-Bus wire bytes (little-endian), through an
 * encoder compiled once per signature. Every value is checked against its
 * type before a byte is written for it, because a bus drops a client that
 * sends an invalid message: integers must be in range, strings must not
 * contain NUL, object paths and signatures must be valid, structs must
 * have their exact field count, containers may nest at most 64 deep.
 *
 * Accepted values (see docs in bus-connection.ts for the full mapping):
 * y n q i u h: number (or bigint) · x t: bigint or integer number ·
 * d: number · b: boolean · s o g: string · v: Variant · ay: Uint8Array
 * or number[] · a…: array · a{…}: Map, or a plain object when the key is
 * s, o or g · (…): array with one entry per field · h: an open fd.
 * @module
 */

import { InvalidValueError } from './errors.ts'
import { MAX_ARRAY_BYTES, MAX_DEPTH } from './limits.ts'
import { isObjectPath } from './names.ts'
import { BoundedCache, parseSignature, parseSingleType, type DBusType } from './signature.ts'
import { Variant } from './variant.ts'
import { Writer } from './writer.ts'

export type Encode = (w: Writer, v: unknown) => void

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return `${typeof v} ${String(v)}`
  return typeof v === 'object' ? `an object (${v.constructor?.name ?? 'null prototype'})` : typeof v
}

function invalid(sig: string, v: unknown, why = ''): InvalidValueError {
  return new InvalidValueError(`Cannot marshal ${describe(v)} as '${sig}'${why === '' ? '' : `: ${why}`}`)
}

/** An integer of at most 32 bits, from a number or a bigint. */
function int32Range(sig: string, min: number, max: number): (v: unknown) => number {
  return (v) => {
    let n: number
    if (typeof v === 'number') n = v
    else if (typeof v === 'bigint' && v >= BigInt(min) && v <= BigInt(max)) n = Number(v)
    else throw invalid(sig, v)
    if (!Number.isInteger(n) || n < min || n > max) throw invalid(sig, v, 'out of range')
    return n
  }
}

const toY = int32Range('y', 0, 0xff)
const toN = int32Range('n', -0x8000, 0x7fff)
const toQ = int32Range('q', 0, 0xffff)
const toI = int32Range('i', -0x8000_0000, 0x7fff_ffff)
const toU = int32Range('u', 0, 0xffff_ffff)
const toH = int32Range('h', 0, 0x7fff_ffff)

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const UINT64_MAX = 2n ** 64n - 1n

function write64(w: Writer, sig: 'x' | 't', v: unknown): void {
  w.align(8)
  w.ensure(8)
  if (typeof v === 'number' && Number.isSafeInteger(v) && (sig === 'x' || v >= 0)) {
    // Two halves; hi may be negative and is written as two's complement.
    const hi = Math.floor(v / 0x1_0000_0000)
    const lo = v - hi * 0x1_0000_0000
    w.buf.writeUInt32LE(lo, w.pos)
    w.buf.writeInt32LE(hi | 0, w.pos + 4)
    w.pos += 8
    return
  }
  let b: bigint
  if (typeof v === 'bigint') b = v
  else if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v)
  else throw invalid(sig, v)
  if (sig === 'x' ? b < INT64_MIN || b > INT64_MAX : b < 0n || b > UINT64_MAX) throw invalid(sig, v, 'out of range')
  if (sig === 'x') w.buf.writeBigInt64LE(b, w.pos)
  else w.buf.writeBigUInt64LE(b, w.pos)
  w.pos += 8
}

function writeString(w: Writer, sig: 's' | 'o', v: unknown): void {
  if (typeof v !== 'string') throw invalid(sig, v)
  if (sig === 'o' && !isObjectPath(v)) throw invalid(sig, v, 'not a valid object path')
  w.string(v, 4)
}

function writeSignature(w: Writer, v: unknown): void {
  if (typeof v !== 'string') throw invalid('g', v)
  const parsed = parseSignature(v)
  if ('error' in parsed) throw invalid('g', v, `not a valid signature: ${parsed.error}`)
  w.string(v, 1)
}

function enter(w: Writer, sig: string, v: unknown): void {
  if (++w.depth > MAX_DEPTH) throw invalid(sig, v, `containers nested deeper than ${MAX_DEPTH}`)
}

const variantEncoders = new BoundedCache<Encode>(1024)

function encoderForVariant(sig: string, v: unknown): Encode {
  let enc = variantEncoders.get(sig)
  if (enc === undefined) {
    const t = parseSingleType(sig)
    if (typeof t === 'string') throw invalid('v', v, `the variant's signature '${sig}' is ${t}`)
    enc = compileEncoder(t)
    variantEncoders.set(sig, enc)
  }
  return enc
}

function writeVariant(w: Writer, v: unknown): void {
  if (!(v instanceof Variant)) throw invalid('v', v, 'not a Variant')
  const sig = v.signature
  if (typeof sig !== 'string') throw invalid('v', v, 'the signature is not a string')
  const enc = encoderForVariant(sig, v)
  enter(w, 'v', v)
  w.string(sig, 1)
  enc(w, v.value)
  w.depth--
}

function arrayEncoder(t: Extract<DBusType, { code: 'a' }>): Encode {
  const el = t.element
  const sig = t.signature
  const elAlign = el.alignment
  const finish = (w: Writer, lengthAt: number, contentStart: number): void => {
    const length = w.pos - w.base - contentStart
    if (length > MAX_ARRAY_BYTES) throw invalid(sig, undefined, `over ${MAX_ARRAY_BYTES} bytes`)
    w.patchU32(lengthAt, length)
    w.depth--
  }
  const begin = (w: Writer, v: unknown): [number, number] => {
    enter(w, sig, v)
    w.u32(0)
    const lengthAt = w.pos - w.base - 4
    w.align(elAlign)
    return [lengthAt, w.pos - w.base]
  }

  if (el.code === 'y') {
    return (w, v) => {
      if (v instanceof Uint8Array) {
        if (v.length > MAX_ARRAY_BYTES) throw invalid(sig, v, `over ${MAX_ARRAY_BYTES} bytes`)
        enter(w, sig, v)
        w.u32(v.length)
        w.bytes(v)
        w.depth--
        return
      }
      if (!Array.isArray(v)) throw invalid(sig, v)
      const [lengthAt, contentStart] = begin(w, v)
      for (const b of v) w.u8(toY(b))
      finish(w, lengthAt, contentStart)
    }
  }

  if (el.code === '{') {
    const [keyType, valueType] = el.fields
    const encKey = compileEncoder(keyType)
    const encValue = compileEncoder(valueType)
    const stringKeys = keyType.code === 's' || keyType.code === 'o' || keyType.code === 'g'
    const entry = (w: Writer, k: unknown, val: unknown): void => {
      w.align(8)
      encKey(w, k)
      encValue(w, val)
    }
    return (w, v) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(sig, v)
      if (!(v instanceof Map) && !stringKeys) throw invalid(sig, v, 'a dict with non-string keys must be a Map')
      const [lengthAt, contentStart] = begin(w, v)
      if (++w.depth > MAX_DEPTH) throw invalid(sig, v, `containers nested deeper than ${MAX_DEPTH}`)
      if (v instanceof Map) for (const [k, val] of v) entry(w, k, val)
      else for (const k of Object.keys(v)) entry(w, k, (v as Record<string, unknown>)[k])
      w.depth--
      finish(w, lengthAt, contentStart)
    }
  }

  const encEl = compileEncoder(el)
  return (w, v) => {
    if (!Array.isArray(v)) throw invalid(sig, v)
    const [lengthAt, contentStart] = begin(w, v)
    for (let i = 0; i < v.length; i++) encEl(w, v[i])
    finish(w, lengthAt, contentStart)
  }
}

function structEncoder(t: Extract<DBusType, { code: '(' }>): Encode {
  const fields = t.fields.map(compileEncoder)
  const n = fields.length
  const sig = t.signature
  return (w, v) => {
    if (!Array.isArray(v) || v.length !== n) throw invalid(sig, v, `a struct needs an array of ${n} values`)
    enter(w, sig, v)
    w.align(8)
    for (let i = 0; i < n; i++) fields[i]!(w, v[i])
    w.depth--
  }
}

export function compileEncoder(t: DBusType): Encode {
  switch (t.code) {
    case 'y': return (w, v) => w.u8(toY(v))
    case 'b': return (w, v) => {
      if (typeof v !== 'boolean') throw invalid('b', v)
      w.u32(v ? 1 : 0)
    }
    case 'n': return (w, v) => { const n = toN(v); w.align(2); w.ensure(2); w.buf.writeInt16LE(n, w.pos); w.pos += 2 }
    case 'q': return (w, v) => { const n = toQ(v); w.align(2); w.ensure(2); w.buf.writeUInt16LE(n, w.pos); w.pos += 2 }
    case 'i': return (w, v) => w.u32(toI(v) >>> 0)
    case 'u': return (w, v) => w.u32(toU(v))
    case 'x': return (w, v) => write64(w, 'x', v)
    case 't': return (w, v) => write64(w, 't', v)
    case 'd': return (w, v) => {
      if (typeof v !== 'number') throw invalid('d', v)
      w.align(8)
      w.ensure(8)
      w.buf.writeDoubleLE(v, w.pos)
      w.pos += 8
    }
    case 's': return (w, v) => writeString(w, 's', v)
    case 'o': return (w, v) => writeString(w, 'o', v)
    case 'g': return writeSignature
    case 'h': return (w, v) => {
      const fd = toH(v)
      w.u32(w.fds.length)
      w.fds.push(fd)
    }
    case 'v': return writeVariant
    case 'a': return arrayEncoder(t)
    case '(': return structEncoder(t)
    case '{': throw new InvalidValueError('A dict entry outside an array')
  }
}

const bodyEncoders = new BoundedCache<Encode[]>(1024)

/** The encoders of a body's complete types; throws InvalidValueError on a bad signature. */
export function encodersFor(signature: string): Encode[] {
  let encs = bodyEncoders.get(signature)
  if (encs === undefined) {
    const parsed = parseSignature(signature)
    if ('error' in parsed) throw new InvalidValueError(`Invalid signature '${signature}': ${parsed.error}`)
    encs = parsed.types.map(compileEncoder)
    bodyEncoders.set(signature, encs)
  }
  return encs
}

/** Writes `values` as a body of `signature` at the writer's position. */
export function writeBody(w: Writer, signature: string, values: readonly unknown[], encs = encodersFor(signature)): void {
  if (values.length !== encs.length) {
    throw new InvalidValueError(`Signature '${signature}' takes ${encs.length} values, got ${values.length}`)
  }
  for (let i = 0; i < encs.length; i++) encs[i]!(w, values[i])
}

/**
 * Marshals values on their own, aligned as if at the start of a message
 * body; returns the bytes and the fds that 'h' values refer to.
 */
export function marshal(signature: string, values: readonly unknown[]): { data: Buffer; fds: number[] } {
  const w = new Writer(256)
  w.beginMessage()
  writeBody(w, signature, values)
  const { data, fds } = w.take()
  return { data: Buffer.from(data), fds }
}
