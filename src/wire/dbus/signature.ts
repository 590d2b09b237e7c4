/**
 * Type signatures: parsing into a tree, and every rule of the D-Bus
 * specification ("Type System", "Valid Signatures"): at most 255 bytes,
 * known type codes only, no empty structs, dict entries only as array
 * elements with a basic key and exactly two types, at most 32 nested
 * arrays and 32 nested structs or dict entries.
 * @module
 */

export type BasicCode = 'y' | 'b' | 'n' | 'q' | 'i' | 'u' | 'x' | 't' | 'd' | 's' | 'o' | 'g' | 'h'

export type DBusType =
  | { readonly code: BasicCode; readonly signature: string; readonly alignment: number }
  | { readonly code: 'v'; readonly signature: 'v'; readonly alignment: 1 }
  | { readonly code: 'a'; readonly signature: string; readonly alignment: 4; readonly element: DBusType }
  | { readonly code: '('; readonly signature: string; readonly alignment: 8; readonly fields: readonly DBusType[] }
  | { readonly code: '{'; readonly signature: string; readonly alignment: 8; readonly fields: readonly [DBusType, DBusType] }

export const MAX_SIGNATURE_LENGTH = 255
export const MAX_ARRAY_NESTING = 32
export const MAX_STRUCT_NESTING = 32

const ALIGNMENT: Readonly<Record<BasicCode, number>> = {
  y: 1, b: 4, n: 2, q: 2, i: 4, u: 4, x: 8, t: 8, d: 8, s: 4, o: 4, g: 1, h: 4,
}

export function isBasicCode(c: string): c is BasicCode {
  return Object.hasOwn(ALIGNMENT, c)
}

/** Basic types are interned: one object per code. */
const BASIC = Object.fromEntries(
  Object.entries(ALIGNMENT).map(([code, alignment]) => [code, { code, signature: code, alignment }]),
) as Readonly<Record<BasicCode, DBusType>>
const VARIANT: DBusType = { code: 'v', signature: 'v', alignment: 1 }

export type ParseResult = { readonly types: readonly DBusType[] } | { readonly error: string }

class Parser {
  readonly #sig: string
  pos = 0
  #arrays = 0
  #structs = 0

  constructor(sig: string) {
    this.#sig = sig
  }

  /** One complete type starting at pos; returns an error text on failure. */
  completeType(): DBusType | string {
    const sig = this.#sig
    const start = this.pos
    const c = sig[this.pos]
    if (c === undefined) return 'a complete type is missing'
    this.pos++
    if (isBasicCode(c)) return BASIC[c]
    if (c === 'v') return VARIANT
    if (c === 'a') {
      if (++this.#arrays > MAX_ARRAY_NESTING) return `more than ${MAX_ARRAY_NESTING} nested arrays`
      let element: DBusType | string
      if (sig[this.pos] === '{') {
        this.pos++
        element = this.#dictEntry(this.pos - 1)
      } else {
        element = this.completeType()
      }
      this.#arrays--
      if (typeof element === 'string') return element
      return { code: 'a', signature: sig.slice(start, this.pos), alignment: 4, element }
    }
    if (c === '(') {
      if (++this.#structs > MAX_STRUCT_NESTING) return `more than ${MAX_STRUCT_NESTING} nested structs`
      const fields: DBusType[] = []
      while (sig[this.pos] !== ')') {
        if (this.pos >= sig.length) return 'a struct is not closed'
        const t = this.completeType()
        if (typeof t === 'string') return t
        fields.push(t)
      }
      this.pos++
      this.#structs--
      if (fields.length === 0) return 'an empty struct'
      return { code: '(', signature: sig.slice(start, this.pos), alignment: 8, fields }
    }
    if (c === '{') return 'a dict entry outside an array'
    if (c === ')' || c === '}') return `an unexpected '${c}'`
    return `an unknown type code '${c}'`
  }

  /** After "a{": key, value, "}". */
  #dictEntry(start: number): DBusType | string {
    if (++this.#structs > MAX_STRUCT_NESTING) return `more than ${MAX_STRUCT_NESTING} nested structs`
    const k = this.#sig[this.pos]
    if (k === undefined) return 'a dict entry is not closed'
    if (!isBasicCode(k)) return 'a dict entry key that is not a basic type'
    this.pos++
    const value = this.completeType()
    if (typeof value === 'string') return value
    if (this.#sig[this.pos] !== '}') return 'a dict entry without exactly two types'
    this.pos++
    this.#structs--
    return { code: '{', signature: this.#sig.slice(start, this.pos), alignment: 8, fields: [BASIC[k], value] }
  }
}

/** Zero or more complete types (a message body, the 'g' type). */
export function parseSignature(sig: string): ParseResult {
  if (sig.length > MAX_SIGNATURE_LENGTH) return { error: `longer than ${MAX_SIGNATURE_LENGTH} bytes` }
  const p = new Parser(sig)
  const types: DBusType[] = []
  while (p.pos < sig.length) {
    const t = p.completeType()
    if (typeof t === 'string') return { error: t }
    types.push(t)
  }
  return { types }
}

/** Exactly one complete type (a variant's signature). */
export function parseSingleType(sig: string): DBusType | string {
  const r = parseSignature(sig)
  if ('error' in r) return r.error
  if (r.types.length !== 1) return r.types.length === 0 ? 'empty' : 'more than one complete type'
  return r.types[0]!
}

export function isValidSignature(sig: string): boolean {
  return !('error' in parseSignature(sig))
}

/**
 * A bounded memo: peers choose the signatures we parse, so a cache that
 * only grows would be theirs to fill. When full it starts over.
 */
export class BoundedCache<V> {
  readonly #map = new Map<string, V>()
  readonly #max: number

  constructor(max: number) {
    this.#max = max
  }

  get(key: string): V | undefined {
    return this.#map.get(key)
  }

  set(key: string, value: V): void {
    if (this.#map.size >= this.#max) this.#map.clear()
    this.#map.set(key, value)
  }
}
