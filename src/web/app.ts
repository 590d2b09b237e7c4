/**
 * The console's HTTP side (hono): the login, the page, its files, the JSON
 * API, the event stream and /metrics, behind access.ts's rules. Nothing
 * but the login page and its style sheet answers before authentication;
 * everything that changes state checks the Origin.
 * @module
 */

import { Hono, type Context } from 'hono'
import { InvalidArgsError } from '../protocol/errors.ts'
import { signalIsValid } from '../protocol/vocabulary.ts'
import { CROSS_ORIGIN, UNAUTHORIZED, apiError } from './api-errors.ts'
import { MACHINE_ACTIONS, type MachineAction } from './api-types.ts'
import { SESSION_COOKIE, cookieValue, type Access, type Credential, type RequestFacts } from './access.ts'
import { PUBLIC_ASSETS, type Asset } from './assets.ts'
import { eventStream, type StreamLimit } from './event-stream.ts'
import type { SourceHub } from './hub.ts'
import type { ImageCatalogue } from './images.ts'
import type { MachineMetricsRegistry } from './metrics.ts'
import { APP_PAGE, LOGIN_MESSAGES, loginPage } from './pages.ts'

export interface AppOptions {
  readonly hub: SourceHub
  readonly access: Access
  readonly assets: ReadonlyMap<string, Asset>
  readonly metrics: MachineMetricsRegistry
  readonly streams: StreamLimit
  /** The images page's data; without it the page and GET /api/images are not there. */
  readonly images?: ImageCatalogue | undefined
}

type Env = { Variables: { credential: Credential } }

/**
 * A strict policy: scripts and connections only from here. Styles allow
 * inline ones because xterm.js and uPlot set element styles (and xterm
 * adds a <style> for its colours); no data is ever placed in markup.
 */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

export function requestFacts(c: { readonly req: { header(name: string): string | undefined } }): RequestFacts {
  return { cookie: c.req.header('cookie'), authorization: c.req.header('authorization'), origin: c.req.header('origin'), host: c.req.header('host') }
}

function isPage(path: string): boolean {
  return path === '/' || path === '/images' || path.startsWith('/machines/')
}

function parseAction(value: string): MachineAction | undefined {
  return (MACHINE_ACTIONS as readonly string[]).includes(value) ? (value as MachineAction) : undefined
}

/** The kill action's options from its JSON body: {signal?: 1…64, whom?: "leader"|"all"}. */
function killOptions(body: unknown): { signal?: number; whom?: 'leader' | 'all' } {
  if (body === undefined) return {}
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidArgsError('The body must be a JSON object')
  const { signal, whom, ...rest } = body as Record<string, unknown>
  const extra = Object.keys(rest)[0]
  if (extra !== undefined) throw new InvalidArgsError(`Unknown field '${extra}'`)
  if (signal !== undefined && (typeof signal !== 'number' || !Number.isInteger(signal) || !signalIsValid(signal))) throw new InvalidArgsError(`Invalid signal ${JSON.stringify(signal)}`)
  if (whom !== undefined && whom !== 'leader' && whom !== 'all') throw new InvalidArgsError(`Invalid whom ${JSON.stringify(whom)}`)
  return { ...(signal === undefined ? {} : { signal }), ...(whom === undefined ? {} : { whom }) }
}

export function createApp(o: AppOptions): Hono<Env> {
  const app = new Hono<Env>()
  const { access, hub } = o

  app.use('*', async (c, next) => {
    await next()
    c.header('Content-Security-Policy', CSP)
    c.header('X-Content-Type-Options', 'nosniff')
    c.header('Referrer-Policy', 'no-referrer')
    c.header('X-Frame-Options', 'DENY')
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store')
  })

  app.get('/login', (c) => {
    const token = c.req.query('token')
    if (token === undefined) return c.html(loginPage(LOGIN_MESSAGES.required), 200)
    if (!access.tokenMatches(token)) return c.html(loginPage(LOGIN_MESSAGES.wrong), 401)
    const id = access.sessions.open()
    const cookie = `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(access.sessions.lifetimeMs / 1000)}${access.secure ? '; Secure' : ''}`
    c.header('Set-Cookie', cookie)
    return c.redirect('/', 303)
  })

  const serveAsset = (c: Context, name: string): Response => {
    const asset = o.assets.get(name)
    if (asset === undefined) return c.json(apiError(new InvalidArgsError(`No such file '${name}'`)).body, 404)
    return c.body(asset.body as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': asset.type, 'Cache-Control': 'no-cache' })
  }
  app.get('/assets/:name', async (c, next) => {
    const name = c.req.param('name')
    if (PUBLIC_ASSETS.has(name)) return serveAsset(c, name)
    return next()
  })

  // Everything below needs a login or the token.
  app.use('*', async (c, next) => {
    const facts = requestFacts(c)
    const credential = access.authenticate(facts)
    if (credential === undefined) {
      if (isPage(c.req.path)) {
        const stale = cookieValue(facts.cookie, SESSION_COOKIE) !== undefined
        return c.html(loginPage(stale ? LOGIN_MESSAGES.expired : LOGIN_MESSAGES.required), 401)
      }
      c.header('WWW-Authenticate', 'Bearer realm="machined-web"')
      return c.json(UNAUTHORIZED, 401)
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && !access.sameOrigin(facts, credential)) return c.json(CROSS_ORIGIN, 403)
    c.set('credential', credential)
    return next()
  })

  app.get('/', (c) => c.html(APP_PAGE))
  app.get('/machines/:name', (c) => c.html(APP_PAGE))
  const images = o.images
  if (images !== undefined) {
    app.get('/images', (c) => c.html(APP_PAGE))
    app.get('/api/images', async (c) => {
      try {
        return c.json(await images.read())
      } catch (err) {
        const e = apiError(err)
        return c.json(e.body, e.status)
      }
    })
  }
  app.get('/assets/:name', (c) => serveAsset(c, c.req.param('name')))

  app.post('/logout', (c) => {
    const id = cookieValue(c.req.header('cookie'), SESSION_COOKIE)
    if (id !== undefined) access.sessions.close(id)
    c.header('Set-Cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`)
    return c.body(null, 204)
  })

  app.get('/api/machines', (c) => c.json(hub.machines()))

  app.get('/api/machines/:name', async (c) => {
    try {
      return c.json(await hub.source(c.req.query('host') ?? '').status(c.req.param('name')))
    } catch (err) {
      const e = apiError(err)
      return c.json(e.body, e.status)
    }
  })

  app.post('/api/machines/:name/:action', async (c) => {
    try {
      const action = parseAction(c.req.param('action'))
      if (action === undefined) throw new InvalidArgsError(`Unknown action '${c.req.param('action')}': expected ${MACHINE_ACTIONS.join(', ')}`)
      const text = await c.req.text()
      let body: unknown
      try {
        body = text.trim() === '' ? undefined : JSON.parse(text)
      } catch {
        throw new InvalidArgsError('The body is not valid JSON')
      }
      const options = action === 'kill' ? killOptions(body) : {}
      await hub.source(c.req.query('host') ?? '').act(c.req.param('name'), action, options)
      return c.body(null, 204)
    } catch (err) {
      const e = apiError(err)
      return c.json(e.body, e.status)
    }
  })

  app.get('/api/events', (c) => eventStream(c, hub, o.streams))

  app.get('/metrics', async (c) => {
    const text = await o.metrics.render(await hub.readMetrics())
    return c.text(text, 200, { 'Content-Type': o.metrics.contentType })
  })

  app.notFound((c) => c.json({ error: 'NotFound', code: 'NOT_FOUND', message: 'No such page' }, 404))
  app.onError((err, c) => {
    const e = apiError(err)
    return c.json(e.body, e.status)
  })
  return app
}
