/**
 * A small generic Varlink server (no usable npm package exists): listens on
 * a Unix socket, accepts connections within systemd's limits, routes each
 * call to the handler of its interface after checking it against the
 * interface's IDL, and answers org.varlink.service itself. Knows nothing
 * of machines; transports/varlink/machine.ts binds io.systemd.Machine.
 *
 * Defaults are sd-varlink's: 4096 connections in all and 1024 per UID
 * (VARLINK_DEFAULT_CONNECTIONS_MAX, _PER_UID_MAX; root is counted too,
 * SD_VARLINK_SERVER_ACCOUNT_UID), 16 MiB per message (VARLINK_BUFFER_MAX).
 * A connection over a limit is closed at once, as there; unlike there it
 * first gets one error, io.systemd.System ETOOMANYREFS (the errno
 * sd-varlink logs), which a client reads as the answer to its first call,
 * so it learns why instead of seeing the connection drop.
 * @module
 */

import { chmod, lstat, mkdir, unlink } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { closeFds, type FdSender } from './connection.ts'
import { dirname } from 'node:path'
import type { Log } from '../../core/ports.ts'
import { findMethod, formatInterface, type VarlinkInterface } from '../../protocol/varlink/idl.ts'
import { SERVICE_ERRORS, SERVICE_INTERFACE } from '../../protocol/varlink/org.varlink.service.ts'
import { badField } from '../../protocol/varlink/validate.ts'
import { VarlinkConnection, type ConnectionLimits, type PeerCredentials, type ReplyChannel } from './connection.ts'
import { invalidParameter, systemError, toVarlinkError, VarlinkError } from './errors.ts'
import { encodeMessage, type IncomingCall } from './message.ts'

export type { PeerCredentials } from './connection.ts'

export interface VarlinkServerLimits extends ConnectionLimits {
  readonly maxConnections: number
  readonly maxConnectionsPerUid: number
}

export const DEFAULT_VARLINK_LIMITS: VarlinkServerLimits = {
  maxConnections: 4096,
  maxConnectionsPerUid: 1024,
  maxMessageSize: 16 * 1024 * 1024,
  maxQueuedCalls: 64,
}

/** How long a refused connection may take to read its error before it is cut. */
const REFUSAL_GRACE_MS = 1000
const ETOOMANYREFS = 109

/** What a method handler sees of a call. */
export interface VarlinkCall {
  /** Fully qualified, e.g. io.systemd.Machine.List. */
  readonly method: string
  /** Checked against the method's IDL already. */
  readonly parameters: Readonly<Record<string, unknown>>
  readonly more: boolean
  readonly oneway: boolean
  /** From SO_PEERCRED, read when the connection was accepted. */
  readonly peer: PeerCredentials
  /** Sends one reply with continues: true (only for calls with more). */
  notify(parameters: Record<string, unknown>): void
  /** Whether this server can pass fds with a reply (an fd sender was given). */
  readonly canPassFds: boolean
  /**
   * sd_varlink_push_fd(): `fd` goes with the final reply, and is ours
   * from now on (closed once sent, or if the call fails); returns its
   * index among the reply's fds. Throws PermissionDenied where fds cannot
   * be passed, as sd-varlink does on such a connection; the fd then stays
   * the caller's.
   */
  pushFd(fd: number): number
}

/** Resolves to the final reply's parameters; throws a VarlinkError or MachinedError for an error reply. */
export type MethodHandler = (call: VarlinkCall) => Promise<Record<string, unknown>>

export interface InterfaceBinding {
  readonly description: VarlinkInterface
  readonly handlers: Readonly<Partial<Record<string, MethodHandler>>>
  /**
   * Per method, parameter names accepted in place of the IDL's (alias →
   * name), renamed before the call is checked against the IDL.
   */
  readonly aliases?: Readonly<Record<string, Readonly<Record<string, string>>>>
}

export interface ServiceInfo {
  readonly vendor: string
  readonly product: string
  readonly version: string
  readonly url: string
}

export interface VarlinkServerOptions {
  readonly info: ServiceInfo
  readonly log: Log
  /** The peer of an accepted socket; throws when it cannot be told. */
  readonly peerCredentials: (socket: Socket) => PeerCredentials
  /** Passes fds with a reply (sendmsg with SCM_RIGHTS, which node:net cannot); without it, no call can pass fds. */
  readonly fdSender?: FdSender
  readonly limits?: Partial<VarlinkServerLimits>
}

interface Bound extends InterfaceBinding {
  readonly idl: string
}

export class VarlinkServer {
  readonly #info: ServiceInfo
  readonly #log: Log
  readonly #peerCredentials: (socket: Socket) => PeerCredentials
  readonly #fdSender: FdSender | undefined
  readonly #limits: VarlinkServerLimits
  readonly #interfaces = new Map<string, Bound>()
  readonly #connections = new Set<VarlinkConnection>()
  readonly #perUid = new Map<number, number>()
  /** A limit was hit and logged; said again only once connections have dropped below it. */
  #refusing = false
  /** Every socket listened on, with its path (systemd serves one server on several sockets). */
  /** `path` undefined: a passed socket, whose file is its owner's to remove. */
  readonly #listeners: { server: Server; path: string | undefined }[] = []

  constructor(options: VarlinkServerOptions) {
    this.#info = options.info
    this.#log = options.log
    this.#peerCredentials = options.peerCredentials
    this.#fdSender = options.fdSender
    this.#limits = { ...DEFAULT_VARLINK_LIMITS, ...options.limits }
    this.addInterface({
      description: SERVICE_INTERFACE,
      handlers: {
        GetInfo: async () => ({ ...this.#info, interfaces: [...this.#interfaces.keys()].sort() }),
        GetInterfaceDescription: async (call) => {
          const name = call.parameters.interface as string
          const bound = this.#interfaces.get(name)
          if (bound === undefined) throw new VarlinkError(SERVICE_ERRORS.INTERFACE_NOT_FOUND, { interface: name })
          return { description: bound.idl }
        },
      },
    })
  }

  addInterface(binding: InterfaceBinding): void {
    this.#interfaces.set(binding.description.name, { ...binding, idl: formatInterface(binding.description) })
  }

  get connectionCount(): number {
    return this.#connections.size
  }

  /**
   * Listens on `path` (its directory is made; a socket left there by an
   * earlier run is removed first, as sd_varlink_server_listen_address()
   * does) and sets its mode: 0666 lets anyone connect, the methods decide.
   * Called again, it listens on one more socket: connections on every one
   * share the interfaces and the limits.
   */
  async listen(path: string, options: { mode?: number } = {}): Promise<void> {
    await mkdir(dirname(path), { recursive: true, mode: 0o755 })
    const old = await lstat(path).catch(() => undefined)
    if (old !== undefined) {
      if (!old.isSocket()) throw new Error(`${path} exists and is not a socket, refusing to replace it`)
      await unlink(path)
    }
    const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, () => { server.off('error', reject); resolve() })
    })
    server.on('error', (err) => this.#log.error('Varlink server failed', { path, error: err.message }))
    this.#listeners.push({ server, path })
    await chmod(path, options.mode ?? 0o666)
  }

  /**
   * Serves on a listening socket someone else made and owns (socket
   * activation: the service manager's, whose socket file stays when we
   * close, as sd-varlink leaves a passed socket's file alone).
   */
  async listenFd(fd: number): Promise<void> {
    const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ fd }, () => { server.off('error', reject); resolve() })
    })
    server.on('error', (err) => this.#log.error('Varlink server failed', { fd, error: err.message }))
    this.#listeners.push({ server, path: undefined })
  }

  /** Serves one connected socket (the listener's, or any other, e.g. in tests). */
  accept(socket: Socket): void {
    let peer: PeerCredentials
    try {
      peer = this.#peerCredentials(socket)
    } catch (err) {
      this.#log.warn('Cannot tell who connected to the Varlink socket, refusing', { error: String(err) })
      socket.destroy()
      return
    }
    const sameUid = this.#perUid.get(peer.uid) ?? 0
    const total = this.#connections.size >= this.#limits.maxConnections
    if (total || sameUid >= this.#limits.maxConnectionsPerUid) {
      this.#refuse(socket, peer, total ? `${this.#limits.maxConnections} in all` : `${this.#limits.maxConnectionsPerUid} per UID`)
      return
    }
    this.#refusing = false
    const connection = new VarlinkConnection({
      socket, peer, limits: this.#limits, log: this.#log, fdSender: this.#fdSender,
      dispatch: (call, out, from) => this.#dispatch(call, out, from),
    })
    this.#connections.add(connection)
    this.#perUid.set(peer.uid, sameUid + 1)
    socket.once('close', () => {
      this.#connections.delete(connection)
      const n = (this.#perUid.get(peer.uid) ?? 1) - 1
      if (n <= 0) this.#perUid.delete(peer.uid)
      else this.#perUid.set(peer.uid, n)
    })
  }

  /** One error (ETOOMANYREFS), then the connection closes; nothing it sends is read. */
  #refuse(socket: Socket, peer: PeerCredentials, limit: string): void {
    const fields = { uid: peer.uid, pid: peer.pid, limit }
    if (this.#refusing) this.#log.debug('Varlink connection limit reached, refusing', fields)
    else this.#log.warn('Varlink connection limit reached, refusing connections', fields)
    this.#refusing = true
    const error = systemError('ETOOMANYREFS', ETOOMANYREFS)
    socket.on('error', () => undefined)
    // Whatever the client sends is dropped, so our close is a clean end of stream.
    socket.resume()
    socket.end(encodeMessage({ error: error.error, parameters: error.parameters }))
    setTimeout(() => socket.destroy(), REFUSAL_GRACE_MS).unref()
  }

  async #dispatch(call: IncomingCall, out: ReplyChannel, peer: PeerCredentials): Promise<void> {
    const fds: number[] = []
    try {
      out.reply(await this.#run(call, out, peer, fds), fds)
    } catch (err) {
      closeFds(fds)
      const wire = toVarlinkError(err)
      if (wire.unexpected) this.#log.error('Varlink method failed', { method: call.method, error: String((err as Error)?.stack ?? err) })
      out.error(wire.error)
    }
  }

  /**
   * Checks the call and starts its handler; throws what a check refuses.
   * Not async: #dispatch awaits the handler's promise, and wrapping it in
   * another (with its microtask trips) for every call bought nothing.
   */
  #run(call: IncomingCall, out: ReplyChannel, peer: PeerCredentials, fds: number[]): Promise<Record<string, unknown>> {
    const dot = call.method.lastIndexOf('.')
    const bound = dot > 0 ? this.#interfaces.get(call.method.slice(0, dot)) : undefined
    const member = call.method.slice(dot + 1)
    const method = bound === undefined ? undefined : findMethod(bound.description, member)
    // sd-varlink answers MethodNotFound for an unknown interface too; InterfaceNotFound is GetInterfaceDescription's.
    if (bound === undefined || method === undefined) throw new VarlinkError(SERVICE_ERRORS.METHOD_NOT_FOUND, { method: call.method })
    const handler = bound.handlers[member]
    if (handler === undefined) throw new VarlinkError(SERVICE_ERRORS.METHOD_NOT_IMPLEMENTED, { method: call.method })
    if (method.more === 'requires' && !call.more) throw new VarlinkError(SERVICE_ERRORS.EXPECTED_MORE)
    const parameters = renameAliases(call.parameters, bound.aliases?.[member])
    const bad = badField(bound.description, method.input, parameters)
    if (bad !== undefined) throw invalidParameter(bad)
    const canPassFds = this.#fdSender !== undefined && !call.oneway
    const pushFd = (fd: number): number => {
      if (!canPassFds) throw new VarlinkError(SERVICE_ERRORS.PERMISSION_DENIED)
      fds.push(fd)
      return fds.length - 1
    }
    return handler({ method: call.method, parameters, more: call.more, oneway: call.oneway, peer, notify: (p) => out.notify(p), canPassFds, pushFd })
  }

  /** Stops listening, ends every connection and removes the socket files. */
  async close(): Promise<void> {
    const listeners = this.#listeners.splice(0)
    for (const c of this.#connections) c.destroy()
    for (const { server, path } of listeners) {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      if (path !== undefined) await unlink(path).catch(() => undefined)
    }
  }
}

function renameAliases(parameters: Record<string, unknown>, aliases: Readonly<Record<string, string>> | undefined): Record<string, unknown> {
  if (aliases === undefined || !Object.keys(parameters).some((k) => Object.hasOwn(aliases, k))) return parameters
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(parameters)) {
    const name = Object.hasOwn(aliases, key) ? aliases[key]! : key
    // The IDL's own name wins when a client sends both.
    if (name !== key && Object.hasOwn(parameters, name)) continue
    out[name] = value
  }
  return out
}
