/**
 * One connection to a message bus: the entry point of our D-Bus library
 * (src/wire/dbus/; docs/decisions/001-dbus-wire-code.md says why it is our
 * own). Every method call arrives raw (sender, path, interface, signature,
 * body) and is answered by whoever registered for it
 * (transports/dbus/ in the daemon), so the object tree, introspection and
 * errors are theirs and can match sd-bus. Code outside this folder uses
 * this file only; the rest of the folder is its insides.
 *
 * Values, both ways (./marshal.ts and ./unmarshal.ts check them):
 *
 * | D-Bus          | received as                     | accepted when sending           |
 * |----------------|---------------------------------|---------------------------------|
 * | y n q i u      | number                          | number (or bigint) in range     |
 * | x t            | bigint                          | bigint, or an integer number    |
 * | d              | number                          | number                          |
 * | b              | boolean                         | boolean                         |
 * | s o g          | string                          | string (o, g: valid syntax)     |
 * | h              | the received fd (number)        | an open fd (number), see below  |
 * | ay             | Buffer                          | Uint8Array/Buffer or number[]   |
 * | a…             | array                           | array                           |
 * | a{s…} a{o…} a{g…} | plain object                 | plain object or Map             |
 * | other a{…}     | Map                             | Map                             |
 * | (…)            | array, one entry per field      | the same                        |
 * | v              | Variant {signature, value}      | Variant (see variant())         |
 *
 * fds: fds that come with an incoming call belong to the call and are
 * closed when it is answered (reply/replyError), unless a handler takes
 * them with takeFds(). fds in the reply to call() are closed unless the
 * call asked to keep them. fds in signals are closed after the signal
 * handlers ran. An fd passed as an 'h' value is the connection's from
 * then on and is closed once sent.
 * @module
 */

import { closeFds, Connection } from './connection.ts'
import { ConnectionClosedError, DBusError, InvalidValueError, MalformedMessageError } from './errors.ts'
import { errorReply, type MarshalledBody, methodCall, methodReturn, MessageFlag, MessageType, signal, type Message } from './message.ts'
import { Variant } from './variant.ts'


/** Where the connection reports a peer that broke the protocol (any structured logger fits). */
export interface Log {
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

export { Variant } from './variant.ts'
export { MarshalledBody } from './message.ts'
export { DBusError } from './errors.ts'

export interface IncomingCall {
  readonly sender: string
  readonly path: string
  readonly interface: string | undefined
  readonly member: string
  readonly signature: string
  readonly body: readonly unknown[]
  /** The caller set NO_REPLY_EXPECTED. */
  readonly noReply: boolean
  /** The call's serial, which the reply names. */
  readonly serial: number
  /** fds that came with the call ('h' values in the body are among them). */
  readonly fds: readonly number[]
}

export interface BusSignal {
  readonly sender: string | undefined
  readonly path: string
  readonly interface: string
  readonly member: string
  readonly body: readonly unknown[]
}

export function variant(signature: string, value: unknown): Variant {
  return new Variant(signature, value)
}

export function isVariant(v: unknown): v is Variant {
  return v instanceof Variant
}

export interface CallOptions {
  /** Keep the fds of the reply (the caller closes them); by default they are closed. */
  readonly keepFds?: boolean
}

interface PendingCall {
  readonly resolve: (body: unknown[]) => void
  readonly reject: (err: Error) => void
  readonly keepFds: boolean
}

const DRIVER = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' } as const

export class BusConnection {
  readonly #conn: Connection
  readonly #log: Log | undefined
  #uniqueName = ''
  #onCall: ((call: IncomingCall) => void) | undefined
  readonly #nameLost = new Set<(name: string) => void>()
  readonly #signalHandlers: ((signal: BusSignal) => void)[] = []
  readonly #closeHandlers: ((err: unknown) => void)[] = []
  readonly #pending = new Map<number, PendingCall>()
  /** fds of calls not answered yet, closed when they are. */
  readonly #callFds = new WeakMap<IncomingCall, readonly number[]>()
  #closed = false

  private constructor(conn: Connection, log: Log | undefined) {
    this.#conn = conn
    this.#log = log
    conn.onMessage((msg) => this.#dispatch(msg))
    conn.onClose((err) => this.#markClosed(err ?? new ConnectionClosedError('The bus closed the connection')))
  }

  /**
   * Connects, authenticates and says Hello; rejects when nothing listens
   * at `address`. With a log, protocol trouble (a malformed message from
   * the bus, a handler that threw) is logged there.
   */
  /**
   * Connects and says Hello. A service (`watchNameOwners`, the default)
   * also hears of every connection going away, to drop what it cached
   * about callers; a client has no use for that traffic. `unixFd: false`
   * skips fd passing (and the native socket it needs). `flush: 'turn'`
   * (a daemon's): see ConnectOptions.flush. `pipelined` (a client's): resolves
   * once Hello is sent rather than answered, so that the first calls go
   * out right behind it, a round trip sooner (the bus reads them in order,
   * Hello first); a handshake the bus refuses then fails those calls.
   */
  static async connect(
    address: string, options: { log?: Log; watchNameOwners?: boolean; unixFd?: boolean; flush?: 'tick' | 'turn'; pipelined?: boolean } = {},
  ): Promise<BusConnection> {
    const flush = options.flush ?? 'tick'
    return BusConnection.#hello(await Connection.open(address, { negotiateUnixFd: options.unixFd ?? true, flush, pipelined: true }), options)
  }

  /**
   * The same over a Unix socket fd already connected to a bus (one inside a
   * container, connected from its namespaces); the fd is the connection's.
   */
  static async adopt(fd: number, options: { log?: Log; watchNameOwners?: boolean } = {}): Promise<BusConnection> {
    return BusConnection.#hello(await Connection.adopt(fd, { negotiateUnixFd: true, pipelined: true }), options)
  }

  /** Hello goes out right behind the handshake, unanswered yet (sd-bus's way: no round trip for the handshake alone). */
  static async #hello(conn: Connection, options: { log?: Log; watchNameOwners?: boolean; pipelined?: boolean }): Promise<BusConnection> {
    const bus = new BusConnection(conn, options.log)
    // Named as soon as the answer is read, before any answer to a call pipelined behind Hello is handed out.
    const hello = bus.callDriver('Hello', '', []).then(([name]) => { bus.#uniqueName = String(name) })
    void hello.catch(() => undefined) // a refused handshake fails it too; the AuthError below is the one reported
    const said = (async () => {
      await conn.authenticated
      await hello
      if (options.watchNameOwners !== false) await bus.callDriver('AddMatch', 's', [
        "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged'",
      ])
    })()
    if (options.pipelined === true) {
      // The connection has closed itself on a refused handshake, failing every call made meanwhile with its error.
      said.catch(() => { bus.close() })
      return bus
    }
    try {
      await said
    } catch (err) {
      bus.close()
      throw err
    }
    return bus
  }

  get uniqueName(): string {
    return this.#uniqueName
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Whether the peer agreed to pass fds ('h' values): without it, a call carrying one fails before it is sent. */
  get unixFd(): boolean {
    return this.#conn.unixFd
  }

  #markClosed(err: Error): void {
    if (this.#closed) return
    this.#closed = true
    if (err instanceof MalformedMessageError) this.#log?.error('Malformed message from the bus, closing the connection', { code: err.code, error: err.message })
    this.#rejectPending(err)
    for (const h of this.#closeHandlers) h(err)
  }

  #rejectPending(err: Error): void {
    const closed = new ConnectionClosedError(`The bus connection closed: ${err.message}`, { cause: err })
    for (const p of this.#pending.values()) p.reject(closed)
    this.#pending.clear()
  }

  #dispatch(msg: Message): void {
    try {
      switch (msg.type) {
        case MessageType.METHOD_CALL: this.#dispatchCall(msg); return
        case MessageType.METHOD_RETURN:
        case MessageType.ERROR: this.#dispatchReply(msg); return
        case MessageType.SIGNAL: this.#dispatchSignal(msg); return
        default: closeFds(msg.fds) // The specification says to ignore unknown types.
      }
    } catch (err) {
      // A handler bug must not take the connection's reader down with it.
      this.#log?.error('A D-Bus message handler threw', { type: msg.type, member: msg.member, error: String((err as Error)?.stack ?? err) })
    }
  }

  #dispatchCall(msg: Message): void {
    const call: IncomingCall = {
      sender: msg.sender ?? '',
      path: msg.path!,
      interface: msg.interface,
      member: msg.member!,
      signature: msg.signature,
      body: msg.body,
      noReply: (msg.flags & MessageFlag.NO_REPLY_EXPECTED) !== 0,
      serial: msg.serial,
      fds: msg.fds,
    }
    if (msg.fds.length > 0) this.#callFds.set(call, msg.fds)
    if (this.#onCall === undefined) {
      this.replyError(call, 'org.freedesktop.DBus.Error.UnknownObject', `Unknown object '${call.path}'.`)
      return
    }
    this.#onCall(call)
  }

  #dispatchReply(msg: Message): void {
    const pending = msg.replySerial === undefined ? undefined : this.#pending.get(msg.replySerial)
    if (pending === undefined) {
      closeFds(msg.fds)
      return
    }
    this.#pending.delete(msg.replySerial!)
    if (msg.type === MessageType.ERROR) {
      closeFds(msg.fds)
      pending.reject(new DBusError(msg.errorName!, msg.body))
      return
    }
    if (!pending.keepFds) closeFds(msg.fds)
    pending.resolve([...msg.body])
  }

  #dispatchSignal(msg: Message): void {
    try {
      if (msg.member === 'NameOwnerChanged' && msg.sender === 'org.freedesktop.DBus' && msg.signature === 'sss') {
        const [name, , newOwner] = msg.body as [string, string, string]
        if (newOwner === '') for (const cb of this.#nameLost) cb(name)
        return
      }
      const sig: BusSignal = { sender: msg.sender, path: msg.path!, interface: msg.interface!, member: msg.member!, body: msg.body }
      for (const h of this.#signalHandlers) h(sig)
    } finally {
      closeFds(msg.fds)
    }
  }

  /** Called once if the connection breaks (not when we close it). */
  onClose(handler: (err: unknown) => void): void {
    this.#closeHandlers.push(handler)
  }

  onCall(handler: (call: IncomingCall) => void): void {
    this.#onCall = handler
  }

  /** Called with every name (unique or well-known) that loses its owner. */
  onNameLost(callback: (name: string) => void): void {
    this.#nameLost.add(callback)
  }

  /** Takes the fds of a call out of the connection's care: they stay open when it is answered. */
  takeFds(call: IncomingCall): readonly number[] {
    const fds = this.#callFds.get(call) ?? []
    this.#callFds.delete(call)
    return fds
  }

  #releaseCall(call: IncomingCall): void {
    const fds = this.#callFds.get(call)
    if (fds === undefined) return
    this.#callFds.delete(call)
    closeFds(fds)
  }

  /**
   * Answers a call. A body that does not fit the signature throws
   * InvalidValueError after the caller got org.freedesktop.DBus.Error.Failed
   * instead, so no call goes unanswered.
   */
  reply(call: IncomingCall, signature: string, body: readonly unknown[] | MarshalledBody): void {
    this.#releaseCall(call)
    if (call.noReply || this.#closed) return
    try {
      this.#conn.send(methodReturn({ serial: call.serial, sender: call.sender || undefined }, signature, body))
    } catch (err) {
      if (err instanceof InvalidValueError) this.replyError(call, 'org.freedesktop.DBus.Error.Failed', 'Internal error')
      throw err
    }
  }

  replyError(call: IncomingCall, name: string, text: string): void {
    this.#releaseCall(call)
    if (call.noReply || this.#closed) return
    this.#conn.send(errorReply({ serial: call.serial, sender: call.sender || undefined }, name, text))
  }

  emitSignal(path: string, iface: string, member: string, signature: string, body: readonly unknown[]): void {
    if (this.#closed) return
    this.#conn.send(signal(path, iface, member, signature, body))
  }

  /** Calls a method of another service on the bus; rejects with its D-Bus error (DBusError, `type` is the name). */
  call(
    destination: string, path: string, iface: string, member: string, signature: string, body: readonly unknown[],
    options: CallOptions = {},
  ): Promise<unknown[]> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError())
    return new Promise((resolve, reject) => {
      const serial = this.#conn.send(methodCall({ destination, path, interface: iface, member, signature, body }))
      this.#pending.set(serial, { resolve, reject, keepFds: options.keepFds === true })
    })
  }

  /** Subscribes to signals matching a match rule; the callback gets every signal that is not NameOwnerChanged. */
  async subscribe(rule: string, callback: (signal: BusSignal) => void): Promise<void> {
    await this.callDriver('AddMatch', 's', [rule])
    this.#signalHandlers.push(callback)
  }

  /** Calls a method of the bus driver (org.freedesktop.DBus). */
  callDriver(member: string, signature: string, body: readonly unknown[]): Promise<unknown[]> {
    return this.call(DRIVER.destination, DRIVER.path, DRIVER.interface, member, signature, body)
  }

  /** RequestName with DBUS_NAME_FLAG_DO_NOT_QUEUE; resolves to the driver's reply code. */
  async requestName(name: string): Promise<number> {
    const [code] = await this.callDriver('RequestName', 'su', [name, 4])
    return Number(code)
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#conn.close()
    this.#rejectPending(new ConnectionClosedError('We closed the connection'))
  }
}
