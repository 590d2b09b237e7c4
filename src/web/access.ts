/**
 * Who may see and do what: one random token (written for root only), the
 * sessions a login with it opens, and the Origin rule for everything that
 * changes state.
 *
 * - A request is authenticated by the session cookie (HttpOnly,
 *   SameSite=Strict) or by `Authorization: Bearer TOKEN`.
 * - A state-changing request (POST, a WebSocket upgrade) must come from
 *   the console's own origin: its Origin header, when present, must be
 *   the origin it was sent to; a cookie without an Origin header is
 *   refused (every browser sends one on these requests, so only a
 *   non-browser could leave it out, and it has the token for a header).
 * @module
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const SESSION_COOKIE = 'machined_web_session'
/** Sessions open at once; the oldest goes first beyond it. */
const MAX_SESSIONS = 256

/** 256 random bits, base64url. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url')
}

/** Writes a new token to DIR/token: the directory 0700, the file 0600, replaced atomically. */
export function writeToken(dir: string, token: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
  const path = join(dir, 'token')
  const temporary = `${path}.${process.pid}.tmp`
  try {
    writeFileSync(temporary, `${token}\n`, { mode: 0o600, flag: 'wx' })
    chmodSync(temporary, 0o600)
    renameSync(temporary, path)
  } finally {
    rmSync(temporary, { force: true })
  }
  return path
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

/** Compares in constant time (over digests, so lengths do not show either). */
export function secretMatches(candidate: string, secret: string): boolean {
  return timingSafeEqual(digest(candidate), digest(secret))
}

export class Sessions {
  readonly #lifetimeMs: number
  /** Session id → expiry (ms); Map keeps insertion order, the oldest first. */
  readonly #expiry = new Map<string, number>()

  constructor(lifetimeMs: number) {
    this.#lifetimeMs = lifetimeMs
  }

  get lifetimeMs(): number {
    return this.#lifetimeMs
  }

  open(now = Date.now()): string {
    for (const [id, expires] of this.#expiry) if (expires <= now) this.#expiry.delete(id)
    while (this.#expiry.size >= MAX_SESSIONS) this.#expiry.delete(this.#expiry.keys().next().value!)
    const id = newSecret()
    this.#expiry.set(id, now + this.#lifetimeMs)
    return id
  }

  valid(id: string, now = Date.now()): boolean {
    const expires = this.#expiry.get(id)
    if (expires === undefined) return false
    if (expires > now) return true
    this.#expiry.delete(id)
    return false
  }

  close(id: string): void {
    this.#expiry.delete(id)
  }
}

/** The value of cookie `name` in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

export interface RequestFacts {
  readonly cookie: string | undefined
  readonly authorization: string | undefined
  readonly origin: string | undefined
  readonly host: string | undefined
}

export type Credential = 'cookie' | 'bearer'

export class Access {
  readonly #token: string
  readonly sessions: Sessions
  readonly #scheme: 'http' | 'https'

  constructor(token: string, sessions: Sessions, scheme: 'http' | 'https') {
    this.#token = token
    this.sessions = sessions
    this.#scheme = scheme
  }

  tokenMatches(candidate: string): boolean {
    return secretMatches(candidate, this.#token)
  }

  /** How the request proves who it is, or undefined. */
  authenticate(r: RequestFacts): Credential | undefined {
    const bearer = /^Bearer +(\S+)$/i.exec(r.authorization ?? '')?.[1]
    if (bearer !== undefined && this.tokenMatches(bearer)) return 'bearer'
    const session = cookieValue(r.cookie, SESSION_COOKIE)
    if (session !== undefined && this.sessions.valid(session)) return 'cookie'
    return undefined
  }

  /** The origin the request was sent to, from its Host header. */
  servedOrigin(host: string | undefined): string | undefined {
    return host === undefined || host === '' ? undefined : `${this.#scheme}://${host}`
  }

  /** The Origin rule for a state-changing request (see the module's comment). */
  sameOrigin(r: RequestFacts, credential: Credential): boolean {
    if (r.origin === undefined) return credential === 'bearer'
    const served = this.servedOrigin(r.host)
    return served !== undefined && r.origin.toLowerCase() === served.toLowerCase()
  }

  get secure(): boolean {
    return this.#scheme === 'https'
  }
}
