/**
 * machined-web's command line.
 * @module
 */

import { parseArgs } from 'node:util'
import type { EtcdSettings } from '../fleet/etcd.ts'

export const HELP = `machined-web [OPTIONS...]

A web console and Prometheus metrics for every machine machined knows on
this host. A client of machined (Varlink or D-Bus), never a second registry.
At start it writes a new access token to RUNTIME-DIR/token (mode 0600) and
prints the URL that logs in with it.

Options:
  -h --help                   Show this help
     --version                Show the version
     --listen=HOST:PORT|PATH  Where to serve HTTP (default 127.0.0.1:9091;
                              [::1]:PORT for IPv6; an absolute path: a UNIX socket)
     --tls-cert=FILE          Serve HTTPS with this certificate (PEM) …
     --tls-key=FILE           … and this key
     --runtime-dir=DIR        Token and Varlink socket (default /run/machined-web)
     --varlink-socket=PATH    Serve io.machinedts.Metrics here (default
                              RUNTIME-DIR/io.machinedts.Metrics; empty: none)
     --session-lifetime=SECS  How long a login lasts (default 43200)
     --max-terminals=N        Open terminals at most (default 16)
     --max-event-streams=N    Pages and scripts following events at once (default 64)
     --transport=auto|varlink|dbus
                              How to reach machined (default auto: Varlink
                              when its socket is there, else D-Bus)
     --fleet-etcd=URL[,URL...]
                              Show every other host of the fleet too, as
                              its machined publishes it to etcd (one watch)
     --fleet-etcd-ca=FILE     CA certificate of the etcd servers (PEM)
     --fleet-etcd-cert=FILE   Client certificate for etcd (PEM) …
     --fleet-etcd-key=FILE    … and its private key
     --fleet-etcd-user=NAME   etcd user; the password is read from
     --fleet-etcd-password-file=FILE, or $MACHINED_FLEET_ETCD_PASSWORD
`

export type Listen = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string }

export interface WebOptions {
  readonly listen: Listen
  readonly tls: { readonly cert: string; readonly key: string } | undefined
  readonly runtimeDir: string
  readonly varlinkSocket: string
  readonly sessionLifetimeMs: number
  readonly maxTerminals: number
  readonly maxEventStreams: number
  readonly transport: 'auto' | 'varlink' | 'dbus'
  /** --fleet-etcd and its TLS and auth options as given (checked, and their files read, by etcdConfigFrom()); undefined without it. */
  readonly fleet: EtcdSettings | undefined
}

export class UsageError extends Error {}

export function parseListen(value: string): Listen {
  if (value.startsWith('/')) return { kind: 'unix', path: value }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value)
  const port = Number(m?.[3])
  if (m === null || port > 65535) throw new UsageError(`Invalid --listen address '${value}': expected HOST:PORT, [IPV6]:PORT or an absolute path`)
  return { kind: 'tcp', host: m[1] ?? m[2] ?? '', port }
}

function positiveInteger(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new UsageError(`Invalid --${name} '${value}': expected a positive integer`)
  return n
}

export type Parsed = { readonly help: true } | { readonly version: true } | { readonly options: WebOptions }

export function parseWebArgs(argv: readonly string[]): Parsed {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
      listen: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'runtime-dir': { type: 'string' },
      'varlink-socket': { type: 'string' },
      'session-lifetime': { type: 'string' },
      'max-terminals': { type: 'string' },
      'max-event-streams': { type: 'string' },
      transport: { type: 'string' },
      'fleet-etcd': { type: 'string' },
      'fleet-etcd-ca': { type: 'string' },
      'fleet-etcd-cert': { type: 'string' },
      'fleet-etcd-key': { type: 'string' },
      'fleet-etcd-user': { type: 'string' },
      'fleet-etcd-password-file': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  })
  if (values.help === true) return { help: true }
  if (values.version === true) return { version: true }
  if (positionals.length > 0) throw new UsageError(`Unexpected argument '${positionals[0]}'`)
  const cert = values['tls-cert']
  const key = values['tls-key']
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together')
  const transport = values.transport ?? 'auto'
  if (transport !== 'auto' && transport !== 'varlink' && transport !== 'dbus') throw new UsageError(`Invalid --transport '${transport}': expected auto, varlink or dbus`)
  const endpoints = values['fleet-etcd']
  const fleetExtra = (['fleet-etcd-ca', 'fleet-etcd-cert', 'fleet-etcd-key', 'fleet-etcd-user', 'fleet-etcd-password-file'] as const).find((k) => values[k] !== undefined)
  if (endpoints === undefined && fleetExtra !== undefined) throw new UsageError(`--${fleetExtra} needs --fleet-etcd`)
  const fleet = endpoints === undefined ? undefined : {
    endpoints, ca: values['fleet-etcd-ca'], cert: values['fleet-etcd-cert'], key: values['fleet-etcd-key'],
    user: values['fleet-etcd-user'], passwordFile: values['fleet-etcd-password-file'],
  }
  const runtimeDir = values['runtime-dir'] ?? '/run/machined-web'
  if (!runtimeDir.startsWith('/')) throw new UsageError('--runtime-dir must be an absolute path')
  return {
    options: {
      listen: parseListen(values.listen ?? '127.0.0.1:9091'),
      tls: cert !== undefined && key !== undefined ? { cert, key } : undefined,
      runtimeDir,
      varlinkSocket: values['varlink-socket'] ?? `${runtimeDir}/io.machinedts.Metrics`,
      sessionLifetimeMs: positiveInteger('session-lifetime', values['session-lifetime'], 43_200) * 1000,
      maxTerminals: positiveInteger('max-terminals', values['max-terminals'], 16),
      maxEventStreams: positiveInteger('max-event-streams', values['max-event-streams'], 64),
      transport,
      fleet,
    },
  }
}
