/**
 * Reaching etcd: the endpoints, TLS and password settings the daemon and
 * mctl share (checked in full before anything starts, so a typo or an
 * unreadable certificate is one line at start, not a retry loop later),
 * and one client of the official etcd3 library configured for the fleet:
 * no per-host circuit breaker (the publisher keeps its own jittered
 * backoff, and a breaker would hold a recovered etcd closed for 5 s),
 * failover across every endpoint, a deadline on every unary call, and
 * room for a large fleet in one reply.
 * @module
 */

import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { handleWhen, noop, retry } from 'cockatiel'
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3'

export interface EtcdConfig {
  /** http(s)://HOST:PORT, one per cluster member. */
  readonly endpoints: readonly string[]
  readonly tls: { readonly ca: Buffer | undefined; readonly cert: Buffer | undefined; readonly key: Buffer | undefined } | undefined
  readonly auth: { readonly username: string; readonly password: string } | undefined
}

/** What the command line and the environment say, before it is checked. */
export interface EtcdSettings {
  readonly endpoints: string
  readonly ca?: string | undefined
  readonly cert?: string | undefined
  readonly key?: string | undefined
  readonly user?: string | undefined
  readonly passwordFile?: string | undefined
}

/** A setting that cannot work; the message is the whole line to print. */
export class FleetConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'FleetConfigError'
  }
}

/**
 * The environment's word where the command line has none: the same names
 * for machined and mctl. A password is never an option (it would show in
 * ps): it comes from a file, or from $MACHINED_FLEET_ETCD_PASSWORD.
 */
export function settingsFromEnv(given: Partial<EtcdSettings>, env: NodeJS.ProcessEnv): Omit<EtcdSettings, 'endpoints'> & { endpoints: string | undefined } {
  const pick = (v: string | undefined, name: string): string | undefined => v ?? (env[name] === '' ? undefined : env[name])
  return {
    endpoints: pick(given.endpoints, 'MACHINED_FLEET_ETCD'),
    ca: pick(given.ca, 'MACHINED_FLEET_ETCD_CA'),
    cert: pick(given.cert, 'MACHINED_FLEET_ETCD_CERT'),
    key: pick(given.key, 'MACHINED_FLEET_ETCD_KEY'),
    user: pick(given.user, 'MACHINED_FLEET_ETCD_USER'),
    passwordFile: pick(given.passwordFile, 'MACHINED_FLEET_ETCD_PASSWORD_FILE'),
  }
}

function parseEndpoint(text: string, option: string): string {
  const bad = (why: string): FleetConfigError => new FleetConfigError(`Invalid ${option} URL '${text}': ${why}`)
  let url: URL
  try { url = new URL(text) } catch { throw bad('expected http://HOST:PORT or https://HOST:PORT') }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('the scheme must be http or https')
  if (url.hostname === '') throw bad('no host')
  if (url.username !== '' || url.password !== '') throw bad('put no user or password in the URL')
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') throw bad('an etcd endpoint has no path or query')
  // etcd's client port when none is given, as etcdctl assumes.
  return `${url.protocol}//${url.hostname}:${url.port === '' ? '2379' : url.port}`
}

function readPem(path: string, option: string, check: (pem: Buffer) => void): Buffer {
  let pem: Buffer
  try { pem = readFileSync(path) } catch (err) {
    throw new FleetConfigError(`Cannot read ${option}=${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  try { check(pem) } catch {
    throw new FleetConfigError(`${option}=${path} holds no valid PEM ${option.endsWith('key') ? 'private key' : 'certificate'}`)
  }
  return pem
}

/**
 * Checks everything and reads every file now. `optionName` words the
 * messages after the command line of whoever asks ("--fleet-etcd" for
 * machined, "--fleet" for mctl).
 */
export function etcdConfigFrom(s: EtcdSettings, env: NodeJS.ProcessEnv, optionName = '--fleet-etcd'): EtcdConfig {
  const texts = s.endpoints.split(',').map((e) => e.trim()).filter((e) => e !== '')
  if (texts.length === 0) throw new FleetConfigError(`${optionName} names no etcd endpoint`)
  const endpoints = texts.map((t) => parseEndpoint(t, optionName))
  const secure = endpoints.filter((e) => e.startsWith('https:')).length
  if (secure !== 0 && secure !== endpoints.length) throw new FleetConfigError(`${optionName}: use https for every endpoint or for none`)
  if ((s.cert === undefined) !== (s.key === undefined)) throw new FleetConfigError('--fleet-etcd-cert and --fleet-etcd-key go together')
  const wantTls = secure > 0 || s.ca !== undefined || s.cert !== undefined
  if (wantTls && secure === 0) throw new FleetConfigError(`${optionName}: TLS settings need https:// endpoints`)
  const tls = wantTls ? {
    ca: s.ca === undefined ? undefined : readPem(s.ca, '--fleet-etcd-ca', (pem) => new X509Certificate(pem)),
    cert: s.cert === undefined ? undefined : readPem(s.cert, '--fleet-etcd-cert', (pem) => new X509Certificate(pem)),
    key: s.key === undefined ? undefined : readPem(s.key, '--fleet-etcd-key', (pem) => createPrivateKey(pem)),
  } : undefined
  let auth: EtcdConfig['auth']
  if (s.user !== undefined) {
    let password = env.MACHINED_FLEET_ETCD_PASSWORD
    if (s.passwordFile !== undefined) {
      try { password = readFileSync(s.passwordFile, 'utf8').replace(/\r?\n$/, '') } catch (err) {
        throw new FleetConfigError(`Cannot read --fleet-etcd-password-file=${s.passwordFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
      }
    }
    if (password === undefined) throw new FleetConfigError('--fleet-etcd-user needs --fleet-etcd-password-file or $MACHINED_FLEET_ETCD_PASSWORD')
    auth = { username: s.user, password }
  } else if (s.passwordFile !== undefined) {
    throw new FleetConfigError('--fleet-etcd-password-file needs --fleet-etcd-user')
  }
  return { endpoints, tls, auth }
}

/**
 * An etcd or gRPC failure in one line: grpc-js words a failed connection
 * over several lines and ends it with an empty "Resolution note".
 */
export function etcdErrorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err)
  return text.replace(/\s*\n\s*/g, ' ').replace(/\s*Resolution note:\s*$/, '').replace(/\.$/, '').trim()
}

let ipServernameQuiet = false

/**
 * grpc-js names the server it connects to by its address, also when that
 * is an IP address, for which Node warns (DEP0123) on every connection.
 * The certificate is still checked against the address; only that one
 * warning is dropped.
 */
function quietIpServernameWarning(): void {
  if (ipServernameQuiet) return
  ipServernameQuiet = true
  const emit = process.emitWarning.bind(process)
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1]
    if (code === 'DEP0123') return
    ;(emit as (w: string | Error, ...r: unknown[]) => void)(warning, ...rest)
  })
}

/** Unary calls give up after this long; streams set their own deadlines. */
export const CALL_DEADLINE_MS = 5000

/** A client for `config`. */
export function openEtcd(config: EtcdConfig, options: { callDeadlineMs?: number } = {}): Etcd3 {
  const deadline = options.callDeadlineMs ?? CALL_DEADLINE_MS
  const tls = config.tls
  const o: IOptions = {
    hosts: [...config.endpoints],
    // The library's fault handling: try the next member at once, hold no member closed.
    faultHandling: {
      host: () => noop,
      global: config.endpoints.length > 1 ? retry(handleWhen(isRecoverableError), { maxAttempts: config.endpoints.length - 1 }) : noop,
    },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + deadline }),
    grpcOptions: {
      // A fleet of 10,000 machines is a few MiB in one range reply (grpc-js stops at 4 MiB by default).
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      // Notice a dead connection (a partition that drops packets) without waiting for TCP.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5000,
    },
  }
  if (config.endpoints.some((e) => e.startsWith('https:'))) quietIpServernameWarning()
  if (tls !== undefined) {
    o.credentials = {
      // grpc-js takes null for "the system's roots".
      rootCertificate: tls.ca ?? (null as unknown as Buffer),
      ...(tls.key === undefined ? {} : { privateKey: tls.key }),
      ...(tls.cert === undefined ? {} : { certChain: tls.cert }),
    }
  }
  if (config.auth !== undefined) o.auth = { username: config.auth.username, password: config.auth.password }
  return new Etcd3(o)
}
