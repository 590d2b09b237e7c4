/**
 * The client side of D-Bus's SASL handshake ("Authentication Protocol"),
 * as a state machine over bytes with no I/O of its own: a NUL byte, then
 * AUTH EXTERNAL with our uid as hex-encoded ASCII decimal, then (when
 * asked for) NEGOTIATE_UNIX_FD, then BEGIN, all at once without waiting
 * for the answers, as sd-bus does (bus_socket_start_auth_client()):
 * dbus-daemon and dbus-broker read the lines in order and hand whatever
 * follows BEGIN to their message reader once the handshake succeeded, so
 * a client's first message (Hello) can go out in the same write and the
 * handshake costs no round trip of its own. The answers are read after:
 * OK (or a refusal, an AuthError), then AGREE_UNIX_FD or ERROR, which
 * alone decides whether fds may be passed. Any bytes after the server's
 * last line go to the message framer.
 * @module
 */

import { AuthError } from './errors.ts'

export interface AuthResult {
  /** The server's GUID from its OK line. */
  readonly guid: string
  /** Whether the server agreed to pass UNIX fds. */
  readonly unixFd: boolean
}

export interface AuthStep {
  /** Set once the server has answered everything. */
  readonly result?: AuthResult
  /** Bytes after the server's last line: the start of the message stream. */
  readonly rest?: Buffer
}

/** A server line longer than this is not SASL. */
const MAX_LINE = 16 * 1024

export function hexUid(uid: number): string {
  return Buffer.from(String(uid), 'ascii').toString('hex')
}

export class SaslClient {
  readonly #uid: number
  readonly #negotiateUnixFd: boolean
  #state: 'start' | 'auth' | 'negotiate' | 'done' = 'start'
  #guid = ''
  #pending: Buffer = Buffer.alloc(0)

  constructor(options: { uid: number; negotiateUnixFd: boolean }) {
    this.#uid = options.uid
    this.#negotiateUnixFd = options.negotiateUnixFd
  }

  /** Everything we send: the credentials NUL byte, AUTH EXTERNAL, NEGOTIATE_UNIX_FD when asked for, BEGIN. */
  start(): string {
    if (this.#state !== 'start') throw new AuthError('SASL handshake started twice')
    this.#state = 'auth'
    return `\0AUTH EXTERNAL ${hexUid(this.#uid)}\r\n${this.#negotiateUnixFd ? 'NEGOTIATE_UNIX_FD\r\n' : ''}BEGIN\r\n`
  }

  /** Takes bytes from the server; throws AuthError when the server refuses or talks nonsense. */
  feed(chunk: Buffer): AuthStep {
    if (this.#state === 'done' || this.#state === 'start') throw new AuthError(`Unexpected bytes from the bus (SASL state ${this.#state})`)
    let data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk])
    for (;;) {
      const nl = data.indexOf('\r\n')
      if (nl === -1) {
        if (data.length > MAX_LINE) throw new AuthError('The bus sent an overlong SASL line')
        this.#pending = data
        return {}
      }
      const line = data.toString('latin1', 0, nl)
      data = data.subarray(nl + 2)
      const result = this.#line(line)
      if (result !== undefined) {
        this.#pending = Buffer.alloc(0)
        return data.length > 0 ? { result, rest: data } : { result }
      }
    }
  }

  /** One answer, in the order our lines went out; the result once the last one is in. */
  #line(line: string): AuthResult | undefined {
    const [command = '', ...args] = line.split(' ')
    if (this.#state === 'auth') {
      if (command === 'OK') {
        const guid = args[0] ?? ''
        if (!/^[0-9a-f]{32}$/i.test(guid)) throw new AuthError(`The bus sent OK with an invalid GUID '${guid}'`)
        this.#guid = guid
        if (this.#negotiateUnixFd) {
          this.#state = 'negotiate'
          return undefined
        }
        return this.#done(false)
      }
      if (command === 'REJECTED') throw new AuthError(`The bus rejected EXTERNAL authentication as uid ${this.#uid} (it offers: ${args.join(' ') || 'nothing'})`)
      if (command === 'ERROR') throw new AuthError(`The bus answered AUTH with an error: ${args.join(' ')}`)
      throw new AuthError(`Unexpected SASL reply to AUTH: ${JSON.stringify(line.slice(0, 80))}`)
    }
    if (command === 'AGREE_UNIX_FD') return this.#done(true)
    // A bus that cannot pass fds says ERROR; we carry on without them (our BEGIN is already on its way).
    if (command === 'ERROR') return this.#done(false)
    throw new AuthError(`Unexpected SASL reply to NEGOTIATE_UNIX_FD: ${JSON.stringify(line.slice(0, 80))}`)
  }

  #done(unixFd: boolean): AuthResult {
    this.#state = 'done'
    return { guid: this.#guid, unixFd }
  }
}
