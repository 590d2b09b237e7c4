/**
 * Reaching etcd: one client of the official etcd3 library configured for
 * the fleet (its settings are checked by ./etcd-config.ts):
 * no per-host circuit breaker (the publisher keeps its own jittered
 * backoff, and a breaker would hold a recovered etcd closed for 5 s),
 * failover across every endpoint, a deadline on every unary call, and
 * room for a large fleet in one reply.
 * @module
 */

import { handleWhen, noop, retry } from 'cockatiel'
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3'
import type { EtcdConfig } from './etcd-config.ts'

export { etcdConfigFrom, FleetConfigError, settingsFromEnv, type EtcdConfig, type EtcdSettings } from './etcd-config.ts'

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
  }) as typeof process.emitWarning
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
