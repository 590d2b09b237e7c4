/**
 * Whole messages: the 16-byte fixed header, the header-field array
 * a(yv), padding to 8, the body. Encoding writes straight into a batch
 * Writer; decoding checks the header as strictly as the body (required
 * fields per type, field types, names, no repeated field, a non-zero
 * serial) and refuses what the specification forbids.
 * @module
 */

import { InvalidValueError, MalformedMessageError } from './errors.ts'
import { MAX_MESSAGE_BYTES } from './limits.ts'
import { encodersFor, writeBody } from './marshal.ts'
import { Writer } from './writer.ts'
import { isBusName, isErrorName, isInterfaceName, isMemberName, isObjectPath } from './names.ts'
import { decodersFor, readBody, Reader } from './unmarshal.ts'
import { parseSingleType } from './signature.ts'

export const MessageType = { METHOD_CALL: 1, METHOD_RETURN: 2, ERROR: 3, SIGNAL: 4 } as const
export type MessageType = (typeof MessageType)[keyof typeof MessageType]

export const MessageFlag = { NO_REPLY_EXPECTED: 0x1, NO_AUTO_START: 0x2, ALLOW_INTERACTIVE_AUTHORIZATION: 0x4 } as const

/** Header field codes and the one type each must have. */
const FIELD = { PATH: 1, INTERFACE: 2, MEMBER: 3, ERROR_NAME: 4, REPLY_SERIAL: 5, DESTINATION: 6, SENDER: 7, SIGNATURE: 8, UNIX_FDS: 9 } as const
const FIELD_SIGNATURE = ['', 'o', 's', 's', 's', 'u', 's', 's', 'g', 'u'] as const

/** A message as received. */
export interface Message {
  /** 1–4; a type this code does not know (which the specification says to ignore) keeps its number. */
  readonly type: number
  readonly flags: number
  readonly serial: number
  readonly path: string | undefined
  readonly interface: string | undefined
  readonly member: string | undefined
  readonly errorName: string | undefined
  readonly replySerial: number | undefined
  readonly destination: string | undefined
  readonly sender: string | undefined
  readonly signature: string
  readonly body: readonly unknown[]
  /** The fds that came with the message, in order; 'h' values in the body are among them. */
  readonly fds: readonly number[]
}

/**
 * A body marshalled once, sent as it is by any number of messages (a
 * reply that stays the same from call to call). A body always starts on
 * an 8-byte boundary of its message, so its bytes do not depend on the
 * header before it. It cannot pass fds.
 */
export class MarshalledBody {
  readonly signature: string
  readonly bytes: Buffer

  private constructor(signature: string, bytes: Buffer) {
    this.signature = signature
    this.bytes = bytes
  }

  /** Throws InvalidValueError when `body` does not fit `signature`, or passes fds. */
  static of(signature: string, body: readonly unknown[]): MarshalledBody {
    const w = new Writer(4096)
    writeBody(w, signature, body, encodersFor(signature))
    if (w.fds.length > 0) throw bad('a marshalled body cannot pass fds')
    if (w.pos > MAX_MESSAGE_BYTES) throw bad(`longer than ${MAX_MESSAGE_BYTES} bytes`)
    return new MarshalledBody(signature, Buffer.from(w.buf.subarray(0, w.pos)))
  }
}

/** A message to send; the connection gives it its serial. */
export interface OutgoingMessage {
  readonly type: MessageType
  readonly flags?: number
  readonly path?: string
  readonly interface?: string
  readonly member?: string
  readonly errorName?: string
  readonly replySerial?: number
  readonly destination?: string
  readonly signature?: string
  readonly body?: readonly unknown[] | MarshalledBody
}

export function methodCall(m: {
  destination?: string; path: string; interface?: string; member: string; signature?: string; body?: readonly unknown[]; flags?: number
}): OutgoingMessage {
  return { type: MessageType.METHOD_CALL, ...m }
}

export function methodReturn(call: { serial: number; sender: string | undefined }, signature: string, body: readonly unknown[] | MarshalledBody): OutgoingMessage {
  return call.sender === undefined
    ? { type: MessageType.METHOD_RETURN, replySerial: call.serial, signature, body }
    : { type: MessageType.METHOD_RETURN, replySerial: call.serial, destination: call.sender, signature, body }
}

export function errorReply(call: { serial: number; sender: string | undefined }, name: string, text: string): OutgoingMessage {
  const base = { type: MessageType.ERROR, errorName: name, replySerial: call.serial, signature: 's', body: [text] } as const
  return call.sender === undefined ? base : { ...base, destination: call.sender }
}

export function signal(path: string, iface: string, member: string, signature: string, body: readonly unknown[]): OutgoingMessage {
  return { type: MessageType.SIGNAL, path, interface: iface, member, signature, body }
}

function bad(why: string): InvalidValueError {
  return new InvalidValueError(`Cannot send message: ${why}`)
}

function checkOutgoing(m: OutgoingMessage): void {
  const { type } = m
  if (m.path !== undefined && !isObjectPath(m.path)) throw bad(`invalid object path '${m.path}'`)
  if (m.interface !== undefined && !isInterfaceName(m.interface)) throw bad(`invalid interface name '${m.interface}'`)
  if (m.member !== undefined && !isMemberName(m.member)) throw bad(`invalid member name '${m.member}'`)
  if (m.errorName !== undefined && !isErrorName(m.errorName)) throw bad(`invalid error name '${m.errorName}'`)
  if (m.destination !== undefined && !isBusName(m.destination)) throw bad(`invalid bus name '${m.destination}'`)
  if (m.replySerial !== undefined && !(Number.isInteger(m.replySerial) && m.replySerial > 0 && m.replySerial <= 0xffff_ffff)) {
    throw bad(`invalid reply serial ${m.replySerial}`)
  }
  if (type === MessageType.METHOD_CALL && (m.path === undefined || m.member === undefined)) throw bad('a method call needs a path and a member')
  if (type === MessageType.SIGNAL && (m.path === undefined || m.interface === undefined || m.member === undefined)) {
    throw bad('a signal needs a path, an interface and a member')
  }
  if (type === MessageType.ERROR && (m.errorName === undefined || m.replySerial === undefined)) throw bad('an error needs a name and a reply serial')
  if (type === MessageType.METHOD_RETURN && m.replySerial === undefined) throw bad('a method return needs a reply serial')
}

function stringField(w: Writer, code: number, sigChar: 'o' | 's' | 'g', value: string): void {
  w.align(8)
  w.ensure(4)
  const { buf } = w
  buf[w.pos] = code
  buf[w.pos + 1] = 1
  buf[w.pos + 2] = sigChar.charCodeAt(0)
  buf[w.pos + 3] = 0
  w.pos += 4
  w.string(value, sigChar === 'g' ? 1 : 4)
}

function u32Field(w: Writer, code: number, value: number): void {
  w.align(8)
  w.ensure(4)
  const { buf } = w
  buf[w.pos] = code
  buf[w.pos + 1] = 1
  buf[w.pos + 2] = 0x75 // 'u'
  buf[w.pos + 3] = 0
  w.pos += 4
  w.u32(value)
}

/** Bodies that may carry fds are marshalled here first; copied out before anything else uses it. */
const scratch = new Writer(4096)

/**
 * Appends one message to `w`. On an invalid message or value nothing is
 * left in `w` and InvalidValueError is thrown. Returns the fds the message
 * passes (sent alongside it; 'h' values index into them). `bodyApart`:
 * a MarshalledBody is not copied into `w`; only the header (and the
 * padding after it) is, and the caller sends the body's bytes right after.
 */
export function encodeMessage(w: Writer, m: OutgoingMessage, serial: number, bodyApart = false): number[] {
  checkOutgoing(m)
  const signature = m.signature ?? ''
  const given = m.body ?? []
  const marshalled = given instanceof MarshalledBody ? given : undefined
  if (marshalled !== undefined && marshalled.signature !== signature) throw bad(`a body marshalled for '${marshalled.signature}' sent as '${signature}'`)
  const body = marshalled === undefined ? (given as readonly unknown[]) : []
  // Unknown signatures are checked (and their encoders compiled) before any byte is written.
  const encoders = encodersFor(signature)
  // A body that may pass fds is written aside first: the UNIX_FDS field, before it, must count them.
  let bodyBytes: Buffer | undefined = marshalled?.bytes
  let fds: number[] = []
  if (marshalled === undefined && (signature.includes('h') || signature.includes('v'))) {
    scratch.reset()
    writeBody(scratch, signature, body, encoders)
    bodyBytes = scratch.buf.subarray(0, scratch.pos)
    fds = scratch.fds
  }
  const fdCount = w.fds.length
  w.beginMessage()
  try {
    w.ensure(16)
    const { buf } = w
    const start = w.pos
    buf[start] = 0x6c // 'l'
    buf[start + 1] = m.type
    buf[start + 2] = m.flags ?? 0
    buf[start + 3] = 1
    buf.writeUInt32LE(serial, start + 8)
    w.pos = start + 16
    if (m.path !== undefined) stringField(w, FIELD.PATH, 'o', m.path)
    if (m.interface !== undefined) stringField(w, FIELD.INTERFACE, 's', m.interface)
    if (m.member !== undefined) stringField(w, FIELD.MEMBER, 's', m.member)
    if (m.errorName !== undefined) stringField(w, FIELD.ERROR_NAME, 's', m.errorName)
    if (m.replySerial !== undefined) u32Field(w, FIELD.REPLY_SERIAL, m.replySerial)
    if (m.destination !== undefined) stringField(w, FIELD.DESTINATION, 's', m.destination)
    if (signature !== '') stringField(w, FIELD.SIGNATURE, 'g', signature)
    if (fds.length > 0) u32Field(w, FIELD.UNIX_FDS, fds.length)
    w.patchU32(12, w.pos - w.base - 16)
    w.align(8)
    const bodyStart = w.pos - w.base
    if (marshalled !== undefined && bodyApart) {
      if (bodyStart + marshalled.bytes.length > MAX_MESSAGE_BYTES) throw bad(`longer than ${MAX_MESSAGE_BYTES} bytes`)
      w.patchU32(4, marshalled.bytes.length)
      return fds
    }
    if (bodyBytes !== undefined) w.bytes(bodyBytes)
    else writeBody(w, signature, body, encoders)
    if (w.pos - w.base > MAX_MESSAGE_BYTES) throw bad(`longer than ${MAX_MESSAGE_BYTES} bytes`)
    w.patchU32(4, w.pos - w.base - bodyStart)
    return fds
  } catch (err) {
    w.rollback(w.base, fdCount)
    throw err
  }
}

/** Encodes one message into a Buffer of its own (tests, tools). */
export function encodeStandalone(m: OutgoingMessage, serial: number): { data: Buffer; fds: number[] } {
  const w = new Writer(256)
  const fds = encodeMessage(w, m, serial)
  return { data: Buffer.from(w.take().data), fds }
}

export const FIXED_HEADER_BYTES = 16

/**
 * A message's total length from its first 16 bytes, checking what can be
 * checked that early (byte order, version, size limit), so that a peer
 * cannot make us wait for gigabytes.
 */
export function messageLength(buf: Buffer, offset: number): number {
  const endian = buf[offset]
  if (endian !== 0x6c && endian !== 0x42) throw new MalformedMessageError('BAD_ENDIAN', `Invalid endianness byte 0x${(endian ?? 0).toString(16)}`, 0)
  if (buf[offset + 3] !== 1) throw new MalformedMessageError('BAD_VERSION', `Unsupported protocol version ${buf[offset + 3]}`, 3)
  const le = endian === 0x6c
  const bodyLength = le ? buf.readUInt32LE(offset + 4) : buf.readUInt32BE(offset + 4)
  const fieldsLength = le ? buf.readUInt32LE(offset + 12) : buf.readUInt32BE(offset + 12)
  const headerLength = FIXED_HEADER_BYTES + fieldsLength + (-fieldsLength & 7)
  const total = headerLength + bodyLength
  if (fieldsLength > MAX_MESSAGE_BYTES || total > MAX_MESSAGE_BYTES) {
    throw new MalformedMessageError('TOO_LONG', `Message of ${total} bytes (limit ${MAX_MESSAGE_BYTES})`, 4)
  }
  return total
}

function missing(type: number, field: string): MalformedMessageError {
  return new MalformedMessageError('BAD_HEADER', `Message of type ${type} without ${field}`, 1)
}

function badName(what: string, value: string): MalformedMessageError {
  return new MalformedMessageError('BAD_NAME', `Invalid ${what} '${value}'`, 16)
}

/**
 * Decodes the message in buf[start, end) (exactly one whole message).
 * `fds` are the fds received and not yet claimed, oldest first: the
 * message claims as many as its UNIX_FDS field says. Throws
 * MalformedMessageError.
 */
export function decodeMessage(buf: Buffer, start: number, end: number, fds: readonly number[] = []): Message {
  if (end - start < FIXED_HEADER_BYTES) throw new MalformedMessageError('TRUNCATED', 'Shorter than the fixed header', 0)
  const total = messageLength(buf, start)
  if (total !== end - start) throw new MalformedMessageError('TRUNCATED', `Header says ${total} bytes, have ${end - start}`, 0)
  const le = buf[start] === 0x6c
  const type = buf[start + 1]!
  const flags = buf[start + 2]!
  const bodyLength = le ? buf.readUInt32LE(start + 4) : buf.readUInt32BE(start + 4)
  const serial = le ? buf.readUInt32LE(start + 8) : buf.readUInt32BE(start + 8)
  if (type === 0) throw new MalformedMessageError('BAD_HEADER', 'Message type 0 (INVALID)', 1)
  if (serial === 0) throw new MalformedMessageError('BAD_HEADER', 'Serial 0', 8)

  const r = new Reader(buf, { base: start, start: start + 12, end: end - bodyLength, littleEndian: le, fds: [] })
  const fieldsLength = r.u32()
  const fieldsEnd = r.pos + fieldsLength
  r.end = fieldsEnd
  const seen: (string | number | undefined)[] = []
  while (r.pos < fieldsEnd) {
    r.align(8)
    const at = r.pos
    const code = r.u8()
    const sig = r.unvalidatedSignature()
    const expected = FIELD_SIGNATURE[code]
    if (expected === undefined || code === 0) {
      // Unknown fields are to be ignored, once their value is known to be well-formed.
      if (code === 0) throw new MalformedMessageError('BAD_HEADER', 'Header field code 0', at - start)
      const decode = typeof parseSingleType(sig) === 'string' ? undefined : decodersFor(sig)?.[0]
      if (decode === undefined) throw new MalformedMessageError('BAD_SIGNATURE', `Header field ${code} has an invalid signature '${sig}'`, at - start)
      r.enter()
      decode(r)
      r.depth--
      continue
    }
    if (sig !== expected) throw new MalformedMessageError('BAD_HEADER', `Header field ${code} has type '${sig}', must be '${expected}'`, at - start)
    if (seen[code] !== undefined) throw new MalformedMessageError('BAD_HEADER', `Header field ${code} appears twice`, at - start)
    let value: string | number
    switch (expected) {
      case 'o': {
        value = r.string()
        if (!isObjectPath(value)) throw new MalformedMessageError('BAD_OBJECT_PATH', `Invalid object path '${value}'`, at - start)
        break
      }
      case 's': value = r.string(); break
      case 'g': value = r.signature(); break
      case 'u': value = r.u32(); break
      default: throw new MalformedMessageError('BAD_HEADER', `Header field code ${code}`, at - start)
    }
    seen[code] = value
  }
  if (r.pos !== fieldsEnd) throw new MalformedMessageError('BAD_ARRAY', 'Header fields run past their array', r.pos - start)
  r.end = end - bodyLength
  r.align(8)
  if (r.pos !== r.end) throw new MalformedMessageError('BAD_HEADER', 'Header padding does not end where the body starts', r.pos - start)

  const path = seen[FIELD.PATH] as string | undefined
  const iface = seen[FIELD.INTERFACE] as string | undefined
  const member = seen[FIELD.MEMBER] as string | undefined
  const errorName = seen[FIELD.ERROR_NAME] as string | undefined
  const replySerial = seen[FIELD.REPLY_SERIAL] as number | undefined
  const destination = seen[FIELD.DESTINATION] as string | undefined
  const sender = seen[FIELD.SENDER] as string | undefined
  const signature = (seen[FIELD.SIGNATURE] as string | undefined) ?? ''
  const unixFds = (seen[FIELD.UNIX_FDS] as number | undefined) ?? 0

  switch (type) {
    case MessageType.METHOD_CALL:
      if (path === undefined) throw missing(type, 'PATH')
      if (member === undefined) throw missing(type, 'MEMBER')
      break
    case MessageType.SIGNAL:
      if (path === undefined) throw missing(type, 'PATH')
      if (iface === undefined) throw missing(type, 'INTERFACE')
      if (member === undefined) throw missing(type, 'MEMBER')
      break
    case MessageType.ERROR:
      if (errorName === undefined) throw missing(type, 'ERROR_NAME')
      if (replySerial === undefined) throw missing(type, 'REPLY_SERIAL')
      break
    case MessageType.METHOD_RETURN:
      if (replySerial === undefined) throw missing(type, 'REPLY_SERIAL')
      break
  }
  if (iface !== undefined && !isInterfaceName(iface)) throw badName('interface name', iface)
  if (member !== undefined && !isMemberName(member)) throw badName('member name', member)
  if (errorName !== undefined && !isErrorName(errorName)) throw badName('error name', errorName)
  if (destination !== undefined && !isBusName(destination)) throw badName('destination', destination)
  if (sender !== undefined && !isBusName(sender)) throw badName('sender', sender)
  if (replySerial === 0) throw new MalformedMessageError('BAD_HEADER', 'Reply serial 0', 16)
  if (unixFds > fds.length) {
    throw new MalformedMessageError('BAD_FD', `Message says it carries ${unixFds} fds, ${fds.length} came with it`, 16)
  }
  const own = unixFds === 0 ? [] : fds.slice(0, unixFds)

  const body = readBody(new Reader(buf, { base: start, start: r.pos, end, littleEndian: le, fds: own }), signature)
  return { type, flags, serial, path, interface: iface, member, errorName, replySerial, destination, sender, signature, body, fds: own }
}
