/**
 * Unmarshalling: D-Bus wire bytes → JS values, through a decoder compiled
 * once per signature, in either byte order. Nothing from a peer is
 * trusted: every length is checked against the bytes there are, every
 * padding byte must be zero, strings must be NUL-terminated UTF-8 without
 * NUL inside, object paths and signatures must follow their grammar,
 * booleans must be 0 or 1, fd indexes must name an fd that came with the
 * message, arrays must hold at most 64 MiB and end exactly at their
 * length, containers may nest at most 64 deep. Any violation is a
 * MalformedMessageError; no other exception leaves this module for bad
 * input.
 *
 * Values produced: y n q i u → number · x t → bigint · d → number ·
 * b → boolean · s o g → string · h → the received fd (a number) ·
 * ay → Buffer (a copy) · a… → array · a{…} → plain object when the key is
 * s, o or g, else Map · (…) → array · v → Variant.
 * @module
 */

import { isUtf8 } from 'node:buffer'
import { MalformedMessageError, type MalformedCode } from './errors.ts'
import { MAX_ARRAY_BYTES, MAX_DEPTH } from './limits.ts'
import { isObjectPath } from './names.ts'
import { BoundedCache, parseSignature, parseSingleType, type DBusType } from './signature.ts'
import { Variant } from './variant.ts'

/** Buffer's per-encoding slice methods (on every Buffer since Node 0.x, but not in @types/node). */
interface FastSlices {
  latin1Slice(start: number, end: number): string
  utf8Slice(start: number, end: number): string
}

export class Reader {
  readonly buf: Buffer
  pos: number
  /** Where the message starts: alignment and error offsets count from here. */
  readonly base: number
  /** Reads past this are truncation (narrowed while inside an array). */
  end: number
  readonly le: boolean
  /** The fds that came with the message; 'h' values index into them. */
  readonly fds: readonly number[]
  depth = 0

  constructor(buf: Buffer, options: { base: number; start: number; end: number; littleEndian: boolean; fds?: readonly number[] }) {
    this.buf = buf
    this.base = options.base
    this.pos = options.start
    this.end = options.end
    this.le = options.littleEndian
    this.fds = options.fds ?? []
  }

  fail(code: MalformedCode, message: string): MalformedMessageError {
    return new MalformedMessageError(code, message, this.pos - this.base)
  }

  need(n: number): void {
    if (n > this.end - this.pos) throw this.fail('TRUNCATED', `Needed ${n} more bytes, ${this.end - this.pos} left`)
  }

  align(n: number): void {
    const pad = -(this.pos - this.base) & (n - 1)
    if (pad === 0) return
    this.need(pad)
    const { buf } = this
    for (let i = 0; i < pad; i++) {
      if (buf[this.pos] !== 0) throw this.fail('BAD_PADDING', 'Non-zero padding byte')
      this.pos++
    }
  }

  u8(): number {
    this.need(1)
    return this.buf[this.pos++]!
  }

  u16(): number {
    this.align(2)
    this.need(2)
    const v = this.le ? this.buf.readUInt16LE(this.pos) : this.buf.readUInt16BE(this.pos)
    this.pos += 2
    return v
  }

  i16(): number {
    this.align(2)
    this.need(2)
    const v = this.le ? this.buf.readInt16LE(this.pos) : this.buf.readInt16BE(this.pos)
    this.pos += 2
    return v
  }

  u32(): number {
    this.align(4)
    this.need(4)
    const v = this.le ? this.buf.readUInt32LE(this.pos) : this.buf.readUInt32BE(this.pos)
    this.pos += 4
    return v
  }

  i32(): number {
    this.align(4)
    this.need(4)
    const v = this.le ? this.buf.readInt32LE(this.pos) : this.buf.readInt32BE(this.pos)
    this.pos += 4
    return v
  }

  i64(): bigint {
    this.align(8)
    this.need(8)
    const v = this.le ? this.buf.readBigInt64LE(this.pos) : this.buf.readBigInt64BE(this.pos)
    this.pos += 8
    return v
  }

  u64(): bigint {
    this.align(8)
    this.need(8)
    const v = this.le ? this.buf.readBigUInt64LE(this.pos) : this.buf.readBigUInt64BE(this.pos)
    this.pos += 8
    return v
  }

  f64(): number {
    this.align(8)
    this.need(8)
    const v = this.le ? this.buf.readDoubleLE(this.pos) : this.buf.readDoubleBE(this.pos)
    this.pos += 8
    return v
  }

  boolean(): boolean {
    const v = this.u32()
    if (v > 1) throw this.fail('BAD_BOOLEAN', `Boolean value ${v}`)
    return v === 1
  }

  /** 's' and 'o': u32 length, UTF-8 without NUL, a NUL. */
  string(): string {
    const len = this.u32()
    if (len >= this.end - this.pos) {
      throw this.fail('TRUNCATED', `String of ${len} bytes (and its NUL) with ${this.end - this.pos} bytes left`)
    }
    return this.#text(this.pos, this.pos + len)
  }

  /** 'g': u8 length, text, a NUL; must be a valid signature. */
  signature(): string {
    const at = this.pos
    const sig = this.unvalidatedSignature()
    const parsed = parseSignature(sig)
    if ('error' in parsed) throw new MalformedMessageError('BAD_SIGNATURE', `Invalid signature '${sig}': ${parsed.error}`, at - this.base)
    return sig
  }

  /** A signature's text, for callers that check it themselves (variants, against a cache). */
  unvalidatedSignature(): string {
    const len = this.u8()
    if (len >= this.end - this.pos) {
      throw this.fail('TRUNCATED', `Signature of ${len} bytes (and its NUL) with ${this.end - this.pos} bytes left`)
    }
    return this.#text(this.pos, this.pos + len)
  }

  /** Text in [start, stop) followed by NUL at stop; leaves pos after the NUL. */
  #text(start: number, stop: number): string {
    const { buf } = this
    if (buf[stop] !== 0) throw this.fail('BAD_STRING', 'String without its terminating NUL')
    let i = start
    // Fast path: plain ASCII, checked for NUL on the way.
    for (; i < stop; i++) {
      const c = buf[i]!
      if (c === 0) { this.pos = i; throw this.fail('BAD_STRING', 'NUL inside a string') }
      if (c >= 0x80) break
    }
    if (i < stop) {
      const rest = buf.subarray(i, stop)
      if (rest.indexOf(0) !== -1) { this.pos = i + rest.indexOf(0); throw this.fail('BAD_STRING', 'NUL inside a string') }
      if (!isUtf8(rest)) { this.pos = i; throw this.fail('BAD_UTF8', 'String is not valid UTF-8') }
    }
    this.pos = stop + 1
    // The slice methods skip Buffer#toString's encoding lookup, which costs as much as the copy here.
    const b = buf as unknown as FastSlices
    return i === stop ? b.latin1Slice(start, stop) : b.utf8Slice(start, stop)
  }

  enter(): void {
    if (++this.depth > MAX_DEPTH) throw this.fail('TOO_DEEP', `Containers nested deeper than ${MAX_DEPTH}`)
  }
}

export type Decode = (r: Reader) => unknown

const variantDecoders = new BoundedCache<Decode>(1024)

function readVariant(r: Reader): Variant {
  const at = r.pos
  const sig = r.unvalidatedSignature()
  // Only valid signatures are ever cached, so a hit needs no parsing.
  let dec = variantDecoders.get(sig)
  if (dec === undefined) {
    const t = parseSingleType(sig)
    if (typeof t === 'string') {
      throw new MalformedMessageError('BAD_SIGNATURE', `Invalid variant signature '${sig}': ${t}`, at - r.base)
    }
    dec = compileDecoder(t)
    variantDecoders.set(sig, dec)
  }
  r.enter()
  const value = dec(r)
  r.depth--
  return new Variant(sig, value)
}

function readFd(r: Reader): number {
  const index = r.u32()
  const fd = r.fds[index]
  if (fd === undefined) throw r.fail('BAD_FD', `UNIX fd index ${index}, but ${r.fds.length} fds came with the message`)
  return fd
}

function readObjectPath(r: Reader): string {
  const at = r.pos
  const s = r.string()
  if (!isObjectPath(s)) throw new MalformedMessageError('BAD_OBJECT_PATH', `Invalid object path '${s}'`, at - r.base)
  return s
}

/** Reads an array's length and padding; returns where its contents end. */
function beginArray(r: Reader, elementAlignment: number): number {
  const len = r.u32()
  if (len > MAX_ARRAY_BYTES) throw r.fail('TOO_LONG', `Array of ${len} bytes (limit ${MAX_ARRAY_BYTES})`)
  r.align(elementAlignment)
  r.need(len)
  r.enter()
  return r.pos + len
}

function arrayDecoder(t: Extract<DBusType, { code: 'a' }>): Decode {
  const el = t.element
  const align = el.alignment
  if (el.code === 'y') {
    return (r) => {
      const stop = beginArray(r, 1)
      // A copy: a view would keep the whole received chunk alive as long as the value lives.
      const out = Buffer.allocUnsafe(stop - r.pos)
      r.buf.copy(out, 0, r.pos, stop)
      r.pos = stop
      r.depth--
      return out
    }
  }
  if (el.code === '{') {
    const [keyType, valueType] = el.fields
    const decKey = compileDecoder(keyType)
    const decValue = compileDecoder(valueType)
    const plain = keyType.code === 's' || keyType.code === 'o' || keyType.code === 'g'
    return (r) => {
      const stop = beginArray(r, 8)
      const outerEnd = r.end
      r.end = stop
      let out: Record<string, unknown> | Map<unknown, unknown>
      if (plain) {
        const obj: Record<string, unknown> = {}
        while (r.pos < stop) {
          r.align(8)
          r.enter()
          const k = decKey(r) as string
          const v = decValue(r)
          r.depth--
          // An own property, never the prototype: a peer picks the keys.
          if (k === '__proto__') Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true })
          else obj[k] = v
        }
        out = obj
      } else {
        const map = new Map<unknown, unknown>()
        while (r.pos < stop) {
          r.align(8)
          r.enter()
          const k = decKey(r)
          map.set(k, decValue(r))
          r.depth--
        }
        out = map
      }
      r.end = outerEnd
      r.depth--
      return out
    }
  }
  const dec = compileDecoder(el)
  return (r) => {
    const stop = beginArray(r, align)
    const outerEnd = r.end
    r.end = stop
    const out: unknown[] = []
    while (r.pos < stop) out.push(dec(r))
    r.end = outerEnd
    r.depth--
    return out
  }
}

function structDecoder(t: Extract<DBusType, { code: '(' }>): Decode {
  const fields = t.fields.map(compileDecoder)
  const n = fields.length
  return (r) => {
    r.align(8)
    r.enter()
    const out: unknown[] = []
    for (let i = 0; i < n; i++) out.push(fields[i]!(r))
    r.depth--
    return out
  }
}

export function compileDecoder(t: DBusType): Decode {
  switch (t.code) {
    case 'y': return (r) => r.u8()
    case 'b': return (r) => r.boolean()
    case 'n': return (r) => r.i16()
    case 'q': return (r) => r.u16()
    case 'i': return (r) => r.i32()
    case 'u': return (r) => r.u32()
    case 'x': return (r) => r.i64()
    case 't': return (r) => r.u64()
    case 'd': return (r) => r.f64()
    case 's': return (r) => r.string()
    case 'o': return readObjectPath
    case 'g': return (r) => r.signature()
    case 'h': return readFd
    case 'v': return readVariant
    case 'a': return arrayDecoder(t)
    case '(': return structDecoder(t)
    // The signature parser never yields a dict entry outside an array.
    case '{': return (r) => { throw r.fail('BAD_SIGNATURE', 'A dict entry outside an array') }
  }
}

const bodyDecoders = new BoundedCache<Decode[]>(1024)

/** The decoders of a body's complete types, or undefined when the signature is invalid. */
export function decodersFor(signature: string): Decode[] | undefined {
  let decs = bodyDecoders.get(signature)
  if (decs === undefined) {
    const parsed = parseSignature(signature)
    if ('error' in parsed) return undefined
    decs = parsed.types.map(compileDecoder)
    bodyDecoders.set(signature, decs)
  }
  return decs
}

/** Reads a whole body: every value of `signature`, and not a byte more. */
export function readBody(r: Reader, signature: string): unknown[] {
  const decs = decodersFor(signature)
  if (decs === undefined) throw r.fail('BAD_SIGNATURE', `Invalid body signature '${signature}'`)
  const out = new Array<unknown>(decs.length)
  for (let i = 0; i < decs.length; i++) out[i] = decs[i]!(r)
  if (r.pos !== r.end) throw r.fail('TRAILING_BYTES', `${r.end - r.pos} bytes after the last value`)
  return out
}

/**
 * Unmarshals `data` as a body of `signature` that starts 8-aligned (as
 * bodies do). Throws MalformedMessageError.
 */
export function unmarshal(
  data: Buffer,
  signature: string,
  options: { littleEndian?: boolean; fds?: readonly number[] } = {},
): unknown[] {
  const r = new Reader(data, { base: 0, start: 0, end: data.length, littleEndian: options.littleEndian ?? true, fds: options.fds ?? [] })
  return readBody(r, signature)
}
