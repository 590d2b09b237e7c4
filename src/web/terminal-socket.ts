/**
 * The terminal's WebSocket (`ws`): GET /api/machines/NAME/terminal?mode=
 * shell|login[&columns=C&rows=R] upgraded, after the same checks as any state-changing
 * request (a login or the token, and the console's own Origin). Bytes go
 * both ways in binary frames; text frames carry control messages (the
 * window size). When the socket closes, for whatever reason (the tab went,
 * the network did), the session's pty is closed, and its hangup ends the
 * shell or login and what runs in the foreground on it.
 * @module
 */

import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import { apiError } from './api-errors.ts'
import { TERMINAL_MODES, type TerminalControl, type TerminalMode, type TerminalNotice } from './api-types.ts'
import type { Access, RequestFacts } from './access.ts'
import type { SourceHub } from './hub.ts'
import type { TerminalSession } from './source.ts'

const PATH = /^\/api\/machines\/([^/]+)\/terminal$/
const MAX_FRAME = 1 << 20
/** Output queued for a client that does not read before the session is cut off. */
const MAX_BUFFERED = 8 << 20

function refuse(socket: Duplex, status: 401 | 403 | 404, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
  socket.destroy()
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v[0] : v
}

function parseControl(text: string): TerminalControl | undefined {
  try {
    const m = JSON.parse(text) as Partial<TerminalControl>
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 1000
    if (m.type === 'resize' && ok(m.columns) && ok(m.rows)) return { type: 'resize', columns: m.columns, rows: m.rows }
  } catch {
    // Not JSON: ignored like any unknown control message.
  }
  return undefined
}

function notice(ws: WebSocket, n: TerminalNotice): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(n))
}

function attach(ws: WebSocket, session: TerminalSession): void {
  session.onData((data) => {
    if (data === null) {
      notice(ws, { type: 'exit', message: 'The session ended.' })
      ws.close(1000, 'session ended')
      return
    }
    if (ws.bufferedAmount > MAX_BUFFERED) { session.close(); return }
    if (ws.readyState === ws.OPEN) ws.send(data, { binary: true })
  })
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
    if (isBinary) { session.write(bytes); return }
    const control = parseControl(bytes.toString('utf8'))
    if (control?.type === 'resize') session.resize(control.columns, control.rows)
  })
}

export class TerminalSockets {
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME })
  readonly #access: Access
  readonly #hub: SourceHub

  constructor(access: Access, hub: SourceHub) {
    this.#access = access
    this.#hub = hub
  }

  /** The http(s) server's 'upgrade' handler. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy())
    const url = new URL(req.url ?? '/', 'http://localhost')
    const match = PATH.exec(url.pathname)
    if (match === null) { refuse(socket, 404, 'Not Found'); return }
    const facts: RequestFacts = {
      cookie: header(req, 'cookie'), authorization: header(req, 'authorization'), origin: header(req, 'origin'), host: header(req, 'host'),
    }
    const credential = this.#access.authenticate(facts)
    if (credential === undefined) { refuse(socket, 401, 'Unauthorized'); return }
    if (!this.#access.sameOrigin(facts, credential)) { refuse(socket, 403, 'Forbidden'); return }
    const mode = url.searchParams.get('mode') ?? 'shell'
    if (!(TERMINAL_MODES as readonly string[]).includes(mode)) { refuse(socket, 404, 'Not Found'); return }
    let name: string
    try {
      name = decodeURIComponent(match[1]!)
    } catch {
      refuse(socket, 404, 'Not Found')
      return
    }
    const host = url.searchParams.get('host') ?? ''
    // The page's size, to set before the shell draws its first prompt.
    const size = parseControl(JSON.stringify({ type: 'resize', columns: Number(url.searchParams.get('columns')), rows: Number(url.searchParams.get('rows')) }))
    this.#wss.handleUpgrade(req, socket, head, (ws) => { void this.#open(ws, host, name, mode as TerminalMode, size) })
  }

  async #open(ws: WebSocket, host: string, name: string, mode: TerminalMode, size: TerminalControl | undefined): Promise<void> {
    let closed = false
    ws.once('close', () => { closed = true })
    let session: TerminalSession
    try {
      session = await this.#hub.source(host).openTerminal(name, mode)
      if (size !== undefined) session.resize(size.columns, size.rows)
    } catch (err) {
      const e = apiError(err)
      notice(ws, { type: 'error', message: `${e.body.error}: ${e.body.message}` })
      ws.close(1011, e.body.code)
      return
    }
    // Closing the socket ends the session, whichever side closes it first.
    ws.once('close', () => session.close())
    ws.on('error', () => session.close())
    if (closed) { session.close(); return }
    attach(ws, session)
  }

  close(): void {
    for (const ws of this.#wss.clients) ws.terminate()
    this.#wss.close()
  }
}
