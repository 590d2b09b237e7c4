/**
 * The host end of the guest's notify channel: a listening AF_VSOCK stream
 * socket, and the connections the guest's PID 1 makes to it. systemd's
 * sd_notify() over `vsock-stream:` connects, writes one message, shuts its
 * side down and then waits for the host to close the connection
 * (sd-daemon.c), so each connection is read to EOF and closed at once —
 * a host that kept it open would stall the guest's PID 1. This is
 * systemd-vmspawn's read_vsock_notify(), with limits it does not have:
 *
 *  - a message over NOTIFY_MESSAGE_MAX bytes is dropped and its
 *    connection closed (vmspawn does that too);
 *  - a connection that sends no EOF within IDLE_TIMEOUT_MS is closed;
 *  - at most MAX_CONNECTIONS are open at once; more are closed on accept;
 *  - a peer whose CID is not the guest's (another VM, or a local process
 *    on a host with vsock loopback) is closed unread.
 *
 * Node can neither open AF_VSOCK sockets nor wrap them in a net.Socket, so
 * the sockets sit in a poll set and are read with read(2) (fs.readSync on
 * a non-blocking fd): one read per readiness, so a blocking fd (a test's
 * socketpair) never blocks either.
 * @module
 */

import { closeSync, readSync } from 'node:fs'
import { NOTIFY_MESSAGE_MAX } from '../protocol/sd-notify.ts'
import { pollSetOpen, type PollSet } from '../native/poll-set.ts'
import { vsockAccept, VMADDR_CID_ANY } from './vsock-native.ts'

export const MAX_CONNECTIONS = 16
export const IDLE_TIMEOUT_MS = 5000
/** Connections accepted per readiness of the listener, so one burst cannot starve the event loop. */
const ACCEPTS_PER_WAKEUP = 64
/** After an accept that failed for want of resources (EMFILE, ENOBUFS, …), the listener rests this long: it stays readable, and would spin. */
const ACCEPT_BACKOFF_MS = 1000

export interface NotifyPeer {
  readonly cid: number
  readonly port: number
}

export interface NotifyServerHooks {
  /** A whole message, read to EOF; its connection is already closed. */
  onMessage(message: Buffer, peer: NotifyPeer): void
  /** A connection dropped for breaking a limit, or an accept that failed; the text says why. */
  onRefused(reason: string): void
}

export interface NotifyServerOptions {
  /** Only connections from this CID are read; undefined reads any (a test's socketpair has none). */
  readonly guestCid: number | undefined
  readonly maxConnections?: number
  readonly idleTimeoutMs?: number
}

class Connection {
  readonly fd: number
  readonly token: number
  readonly peer: NotifyPeer
  readonly buffer = Buffer.alloc(NOTIFY_MESSAGE_MAX + 1)
  filled = 0
  timer: NodeJS.Timeout | undefined

  constructor(fd: number, token: number, peer: NotifyPeer) {
    this.fd = fd
    this.token = token
    this.peer = peer
  }
}

const LISTENER = 1

export class NotifyServer {
  readonly #hooks: NotifyServerHooks
  readonly #guestCid: number | undefined
  readonly #maxConnections: number
  readonly #idleTimeoutMs: number
  readonly #connections = new Map<number, Connection>()
  readonly #set: PollSet
  #listenFd: number | undefined
  #lastToken = LISTENER
  #closed = false

  /** Serves connections accepted on `listenFd` (which it then owns), or only those handed to serve() when undefined. */
  constructor(listenFd: number | undefined, options: NotifyServerOptions, hooks: NotifyServerHooks) {
    this.#hooks = hooks
    this.#guestCid = options.guestCid
    this.#maxConnections = options.maxConnections ?? MAX_CONNECTIONS
    this.#idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS
    this.#set = pollSetOpen((tokens) => {
      // An exception here would be fatal to the launcher, and with it to the VM: a guest's channel is never worth that.
      try {
        for (const t of tokens) this.#ready(t)
      } catch (err) {
        this.#hooks.onRefused(`internal error: ${(err as Error).message}`)
      }
    })
    if (listenFd !== undefined) {
      this.#listenFd = listenFd
      this.#set.add(listenFd, LISTENER, false)
    }
  }

  get openConnections(): number {
    return this.#connections.size
  }

  /** Reads one accepted connection to its end (the server owns the fd from now on). */
  serve(fd: number, peer: NotifyPeer): void {
    if (this.#closed) { closeSync(fd); return }
    if (this.#guestCid !== undefined && peer.cid !== this.#guestCid) {
      closeSync(fd)
      this.#hooks.onRefused(`a connection from CID ${peer.cid === VMADDR_CID_ANY ? 'none' : peer.cid}, not the guest's ${this.#guestCid}`)
      return
    }
    if (this.#connections.size >= this.#maxConnections) {
      closeSync(fd)
      this.#hooks.onRefused(`more than ${this.#maxConnections} connections at once`)
      return
    }
    let token = this.#lastToken
    do token = (token + 1) >>> 0 || LISTENER + 1; while (token === LISTENER || this.#connections.has(token))
    this.#lastToken = token
    const c = new Connection(fd, token, peer)
    this.#connections.set(token, c)
    c.timer = setTimeout(() => this.#drop(c, `no end of message within ${this.#idleTimeoutMs / 1000}s`), this.#idleTimeoutMs)
    c.timer.unref()
    this.#set.add(fd, token, false)
  }

  #ready(token: number): void {
    if (this.#closed) return
    if (token === LISTENER) { this.#accept(); return }
    const c = this.#connections.get(token)
    if (c !== undefined) this.#read(c)
  }

  #accept(): void {
    for (let i = 0; i < ACCEPTS_PER_WAKEUP && this.#listenFd !== undefined; i++) {
      let accepted
      try {
        accepted = vsockAccept(this.#listenFd)
      } catch (err) {
        this.#hooks.onRefused(`accept failed: ${(err as Error).message}`)
        // ECONNABORTED: that one peer is gone, the listener is fine. Anything else: let it rest.
        if ((err as NodeJS.ErrnoException).code !== 'ECONNABORTED') this.#rest(this.#listenFd)
        return
      }
      if (accepted === undefined) return
      this.serve(accepted.fd, { cid: accepted.cid, port: accepted.port })
    }
  }

  #rest(listenFd: number): void {
    this.#set.remove(listenFd)
    setTimeout(() => { if (!this.#closed && this.#listenFd === listenFd) this.#set.add(listenFd, LISTENER, false) }, ACCEPT_BACKOFF_MS).unref()
  }

  #read(c: Connection): void {
    let n: number
    try {
      // One byte more than a message may have: reading it means the message is too long.
      n = readSync(c.fd, c.buffer, c.filled, c.buffer.length - c.filled, null)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return
      this.#drop(c, `read failed: ${(err as Error).message}`)
      return
    }
    if (n === 0) {
      // EOF: close first, so that the guest's sd_notify() returns, then hand the message on.
      this.#release(c)
      this.#hooks.onMessage(Buffer.from(c.buffer.subarray(0, c.filled)), c.peer)
      return
    }
    c.filled += n
    if (c.filled > NOTIFY_MESSAGE_MAX) this.#drop(c, `a message longer than ${NOTIFY_MESSAGE_MAX} bytes`)
  }

  #drop(c: Connection, reason: string): void {
    if (!this.#connections.has(c.token)) return
    this.#release(c)
    this.#hooks.onRefused(reason)
  }

  #release(c: Connection): void {
    this.#connections.delete(c.token)
    clearTimeout(c.timer)
    this.#set.remove(c.fd)
    closeSync(c.fd)
  }

  /** Closes every connection, the listener and the poll set. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    for (const c of [...this.#connections.values()]) this.#release(c)
    if (this.#listenFd !== undefined) {
      this.#set.remove(this.#listenFd)
      closeSync(this.#listenFd)
      this.#listenFd = undefined
    }
    this.#set.close()
  }
}
