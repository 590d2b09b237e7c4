/**
 * One connection to a message bus, on dbus-next's message level: we see
 * every method call raw (sender, path, interface, signature) and answer it
 * ourselves, so the object tree, introspection and errors are ours and
 * match sd-bus. Nothing above this file knows dbus-next.
 * @module
 */

import dbus from 'dbus-next'

const { Message, MessageType, MessageFlag } = dbus

export interface IncomingCall {
  readonly sender: string
  readonly path: string
  readonly interface: string | undefined
  readonly member: string
  readonly signature: string
  readonly body: readonly unknown[]
  /** The caller set NO_REPLY_EXPECTED. */
  readonly noReply: boolean
  /** dbus-next's message, to address the reply. */
  readonly raw: dbus.Message
}

export function variant(signature: string, value: unknown): dbus.Variant {
  return new dbus.Variant(signature, value)
}

export function isVariant(v: unknown): v is { signature: string; value: unknown } {
  return v instanceof dbus.Variant
}

/** The parts of dbus-next's MessageBus we use; its shipped typings are wrong in places. */
interface RawBus {
  readonly name: string | null
  addMethodHandler(handler: (msg: dbus.Message) => boolean): void
  call(msg: dbus.Message): Promise<dbus.Message | null>
  send(msg: dbus.Message): void
  disconnect(): void
  on(event: 'message', listener: (msg: dbus.Message) => void): void
  on(event: 'error', listener: (err: unknown) => void): void
  once(event: string, listener: (...args: unknown[]) => void): void
  off(event: string, listener: (...args: unknown[]) => void): void
  /** dbus-next does not forward the stream's end; we listen on its connection. */
  readonly _connection: { on(event: 'end', listener: () => void): void }
}

const newError = Message.newError as unknown as (msg: dbus.Message, name: string, text: string) => dbus.Message

const DRIVER = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' } as const

export class BusConnection {
  readonly #bus: RawBus
  #onCall: ((call: IncomingCall) => void) | undefined
  readonly #nameLost = new Set<(name: string) => void>()
  readonly #signalHandlers: ((signal: { member: string; path: string; body: readonly unknown[] }) => void)[] = []
  readonly #closeHandlers: ((err: unknown) => void)[] = []
  #closed = false

  private constructor(bus: RawBus) {
    this.#bus = bus
    bus.addMethodHandler((msg: dbus.Message) => {
      if (msg.type !== MessageType.METHOD_CALL) return false
      // Every call is ours to answer, including the ones dbus-next would answer itself.
      this.#onCall?.({
        sender: msg.sender,
        path: msg.path,
        interface: msg.interface || undefined,
        member: msg.member,
        signature: msg.signature ?? '',
        body: msg.body ?? [],
        noReply: (msg.flags & MessageFlag.NO_REPLY_EXPECTED) !== 0,
        raw: msg,
      })
      return true
    })
  }

  /** Connects and says Hello; rejects when nothing listens at `address`. */
  static async connect(address: string): Promise<BusConnection> {
    dbus.setBigIntCompat(false)
    const bus = (dbus.sessionBus as (o: object) => unknown)({ busAddress: address, negotiateUnixFd: true }) as RawBus
    await new Promise<void>((resolve, reject) => {
      const onError = (err: unknown): void => reject(err instanceof Error ? err : new Error(String(err)))
      bus.once('connect', () => { bus.off('error', onError); resolve() })
      bus.once('error', onError)
    })
    const conn = new BusConnection(bus)
    bus.on('error', (err) => conn.#markClosed(err))
    bus._connection.on('end', () => conn.#markClosed(new Error('The bus closed the connection')))
    // Learn of callers going away, to drop what we cached about them.
    await conn.callDriver('AddMatch', 's', [
      "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged'",
    ])
    bus.on('message', (msg: dbus.Message) => {
      if (msg.type !== MessageType.SIGNAL) return
      if (msg.member === 'NameOwnerChanged' && msg.sender === 'org.freedesktop.DBus') {
        const [name, , newOwner] = msg.body as [string, string, string]
        if (newOwner === '') for (const cb of conn.#nameLost) cb(name)
        return
      }
      for (const h of conn.#signalHandlers) h({ member: msg.member, path: msg.path, body: msg.body ?? [] })
    })
    return conn
  }

  get uniqueName(): string {
    return this.#bus.name ?? ''
  }

  get closed(): boolean {
    return this.#closed
  }

  #markClosed(err: unknown): void {
    if (this.#closed) return
    this.#closed = true
    for (const h of this.#closeHandlers) h(err)
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

  reply(call: IncomingCall, signature: string, body: readonly unknown[]): void {
    if (call.noReply || this.#closed) return
    this.#bus.send(Message.newMethodReturn(call.raw, signature, [...body]))
  }

  replyError(call: IncomingCall, name: string, text: string): void {
    if (call.noReply || this.#closed) return
    this.#bus.send(newError(call.raw, name, text))
  }

  emitSignal(path: string, iface: string, member: string, signature: string, body: readonly unknown[]): void {
    if (this.#closed) return
    this.#bus.send(Message.newSignal(path, iface, member, signature, [...body]))
  }

  /** Calls a method of another service on the bus; rejects with its D-Bus error. */
  async call(destination: string, path: string, iface: string, member: string, signature: string, body: readonly unknown[]): Promise<unknown[]> {
    const reply = await this.#bus.call(new Message({ destination, path, interface: iface, member, signature, body: [...body] }))
    return (reply?.body ?? []) as unknown[]
  }

  /** Subscribes to signals matching a match rule; the callback gets member, path and body. */
  async subscribe(rule: string, callback: (signal: { member: string; path: string; body: readonly unknown[] }) => void): Promise<void> {
    await this.callDriver('AddMatch', 's', [rule])
    this.#signalHandlers.push(callback)
  }

  /** Calls a method of the bus driver (org.freedesktop.DBus). */
  async callDriver(member: string, signature: string, body: readonly unknown[]): Promise<unknown[]> {
    const reply = await this.#bus.call(new Message({ ...DRIVER, member, signature, body: [...body] }))
    return (reply?.body ?? []) as unknown[]
  }

  /** RequestName with DBUS_NAME_FLAG_DO_NOT_QUEUE; resolves to the driver's reply code. */
  async requestName(name: string): Promise<number> {
    const [code] = await this.callDriver('RequestName', 'su', [name, 4])
    return Number(code)
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#bus.disconnect()
  }
}
