/**
 * The console as one object: the hub of sources, the HTTP(S) server with
 * the hono app and the terminal WebSockets on it. main.ts builds it for
 * this host; tests and the fleet can build it with other sources.
 * @module
 */

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { chmodSync, rmSync } from 'node:fs'
import type { AddressInfo, Socket } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { Access, Sessions } from './access.ts'
import { createApp } from './app.ts'
import { loadAssets } from './assets.ts'
import { StreamLimit } from './event-stream.ts'
import { SourceHub } from './hub.ts'
import type { ImageCatalogue } from './images.ts'
import { MachineMetricsRegistry } from './metrics.ts'
import type { Listen } from './options.ts'
import type { MachineSource } from './source.ts'
import { TerminalSockets } from './terminal-socket.ts'

export interface WebServerOptions {
  readonly sources: readonly MachineSource[]
  readonly token: string
  readonly listen: Listen
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer } | undefined
  readonly sessionLifetimeMs: number
  readonly maxEventStreams: number
  /** The images page's data (this host's pool); none without it. */
  readonly images?: ImageCatalogue | undefined
  /** Where the built page files are (default: beside this module, dist/web/ui/). */
  readonly assetDir?: string
}

export class WebServer {
  readonly hub = new SourceHub()
  readonly #server: Server
  readonly #terminals: TerminalSockets
  readonly #connections = new Set<Socket>()
  readonly #listen: Listen
  readonly #scheme: 'http' | 'https'

  constructor(o: WebServerOptions) {
    for (const s of o.sources) this.hub.add(s)
    this.#scheme = o.tls === undefined ? 'http' : 'https'
    const access = new Access(o.token, new Sessions(o.sessionLifetimeMs), this.#scheme)
    const app = createApp({
      hub: this.hub, access, assets: loadAssets(o.assetDir), metrics: new MachineMetricsRegistry(), streams: new StreamLimit(o.maxEventStreams),
      images: o.images,
    })
    const handle = getRequestListener(app.fetch)
    const listener = (req: IncomingMessage, res: ServerResponse): void => { void handle(req, res) }
    this.#server = o.tls === undefined ? createHttpServer(listener) : createHttpsServer({ cert: o.tls.cert, key: o.tls.key }, listener)
    this.#terminals = new TerminalSockets(access, this.hub)
    this.#server.on('upgrade', (req, socket, head) => this.#terminals.handleUpgrade(req, socket, head))
    this.#server.on('connection', (socket: Socket) => {
      this.#connections.add(socket)
      socket.once('close', () => this.#connections.delete(socket))
    })
    this.#listen = o.listen
  }

  /** Listens; resolves to the base URL (http://HOST:PORT) or the socket path. */
  async start(): Promise<string> {
    const l = this.#listen
    if (l.kind === 'unix') rmSync(l.path, { force: true })
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      const done = (): void => { this.#server.off('error', reject); resolve() }
      if (l.kind === 'unix') this.#server.listen(l.path, done)
      else this.#server.listen(l.port, l.host, done)
    })
    if (l.kind === 'unix') {
      chmodSync(l.path, 0o600)
      return l.path
    }
    const port = (this.#server.address() as AddressInfo).port
    const host = l.host === '0.0.0.0' ? '127.0.0.1' : l.host === '::' ? '::1' : l.host
    return `${this.#scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`
  }

  async close(): Promise<void> {
    this.#terminals.close()
    this.hub.close()
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    for (const s of this.#connections) s.destroy()
    await closed
    if (this.#listen.kind === 'unix') rmSync(this.#listen.path, { force: true })
  }
}
