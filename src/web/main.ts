/**
 * machined-web's entry point: parse the command line, write a new token,
 * follow this host's machined through the client library, serve the
 * console (and io.machinedts.Metrics), print the URL that logs in, and run
 * until SIGTERM or SIGINT.
 * @module
 */

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from '../client/connect.ts'
import { etcdConfigFrom, FleetConfigError, settingsFromEnv, type EtcdConfig } from '../fleet/etcd-config.ts'
import { detectCgroupLayout } from '../linux/cgroup-layout.ts'
import { newSecret, writeToken } from './access.ts'
import { ImageCatalogue } from './images.ts'
import { LocalSource } from './local-source.ts'
import { HELP, parseWebArgs, UsageError, type WebOptions } from './options.ts'
import { WebServer } from './server.ts'
import { startMetricsService } from './varlink-metrics.ts'

function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
}

function log(message: string): void {
  process.stderr.write(`machined-web: ${message}\n`)
}

/** This host's machine ID, to leave its own publisher out of the fleet; undefined when unreadable. */
function localMachineId(): string | undefined {
  try { return readFileSync('/etc/machine-id', 'utf8').trim() } catch { return undefined }
}

/**
 * The fleet's hosts in the hub, from one etcd watch. The etcd client
 * (gRPC) is loaded only here, as machined loads it, so a console without
 * --fleet-etcd never pays for it. Not awaited beyond the client's
 * creation: etcd being slow or gone never holds up this host's console.
 */
async function followFleet(config: EtcdConfig, server: WebServer): Promise<{ close(): Promise<void> }> {
  const [{ openEtcd }, { FleetSources }] = await Promise.all([import('../fleet/etcd.ts'), import('./fleet-source.ts')])
  const etcd = openEtcd(config)
  const fleet = new FleetSources({ etcd, hub: server.hub, localHostId: localMachineId(), log })
  return { close: async () => { await fleet.close(); etcd.close() } }
}

async function run(o: WebOptions): Promise<number> {
  // Checked (and its files read) before anything starts: a bad URL or certificate is a one-line error.
  const etcdConfig = o.fleet === undefined ? undefined : etcdConfigFrom({ ...settingsFromEnv(o.fleet, process.env), endpoints: o.fleet.endpoints }, process.env)
  const tls = o.tls === undefined ? undefined : { cert: readFileSync(o.tls.cert), key: readFileSync(o.tls.key) }
  const token = newSecret()
  const tokenPath = writeToken(o.runtimeDir, token)
  const source = new LocalSource({
    connect: () => connect({ transport: o.transport }),
    layout: detectCgroupLayout(),
    maxTerminals: o.maxTerminals,
    log,
  })
  await source.start()
  const server = new WebServer({
    images: new ImageCatalogue({
      images: () => source.client?.images,
      // No daemon connected yet: no transfers to show (the images part says it is not connected).
      transfers: async () => (source.client === undefined ? [] : await source.client.transfers.list()),
    }),
    sources: [source], token, listen: o.listen, tls, sessionLifetimeMs: o.sessionLifetimeMs, maxEventStreams: o.maxEventStreams,
  })
  const where = await server.start()
  const fleet = etcdConfig === undefined ? undefined : await followFleet(etcdConfig, server)
  const metrics = o.varlinkSocket === ''
    ? undefined
    : await startMetricsService({ path: o.varlinkSocket, version: version(), read: () => server.hub.readMetrics() })
  log(`Serving ${where}; token in ${tokenPath}${metrics === undefined ? '' : `; io.machinedts.Metrics on ${o.varlinkSocket}`}`)
  process.stdout.write(o.listen.kind === 'unix'
    ? `Serving on ${where}: log in at /login?token=… with the token in ${join(o.runtimeDir, 'token')}\n`
    : `Open ${where}/login?token=${token}\n`)
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve)
    process.once('SIGINT', resolve)
  })
  await metrics?.close()
  await fleet?.close()
  await server.close()
  return 0
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    const parsed = parseWebArgs(argv)
    if ('help' in parsed) { process.stdout.write(HELP); return 0 }
    if ('version' in parsed) { process.stdout.write(`machined-web ${version()}\n`); return 0 }
    return await run(parsed.options)
  } catch (err) {
    if (err instanceof UsageError || err instanceof FleetConfigError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      log((err as Error).message)
      return 1
    }
    log((err as Error).message)
    return 1
  }
}
