/**
 * The fleet's etcd settings, checked in full before anything starts (the
 * endpoints, TLS and password settings the daemon and mctl share), so a
 * typo or an unreadable certificate is one line at start, not a retry
 * loop later. Apart from ./etcd.ts, which loads the etcd client (gRPC,
 * protobuf: about 150 ms and 9 MiB of heap), so that checking the
 * command line does not load it.
 * @module
 */

import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'

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
