/**
 * A real etcd (Debian's etcd-server) for the fleet tests and the fleet
 * bench: one member on 127.0.0.1, on ports that were free a moment ago,
 * with its data in a temporary directory. It can be killed and started
 * again on the same ports, with its data (a restart) or without (etcd lost
 * everything). With `tls`, the test makes a CA, a server certificate and a
 * client certificate with openssl, and etcd demands the client's.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Etcd3 } from 'etcd3'
import { openEtcd, type EtcdConfig } from '../../src/fleet/etcd.ts'

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })
}

export interface TlsFiles {
  readonly ca: string
  readonly cert: string
  readonly key: string
  readonly serverCert: string
  readonly serverKey: string
}

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`)
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all made here. */
export function makeTls(dir: string): TlsFiles {
  const f = (name: string): string => join(dir, name)
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=fleet-test-ca',
    '-keyout', f('ca.key'), '-out', f('ca.crt')])
  for (const [who, ext] of [['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'], ['client', 'extendedKeyUsage=clientAuth']] as const) {
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=fleet-test-${who}`, '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`)])
    writeFileSync(f(`${who}.ext`), `${ext}\n`)
    openssl(['x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2',
      '-extfile', f(`${who}.ext`), '-out', f(`${who}.crt`)])
  }
  return { ca: f('ca.crt'), cert: f('client.crt'), key: f('client.key'), serverCert: f('server.crt'), serverKey: f('server.key') }
}

export class EtcdServer {
  readonly dir: string
  readonly clientPort: number
  readonly peerPort: number
  readonly tls: TlsFiles | undefined
  #child: ChildProcess | undefined
  #log = ''
  #generation = 0

  private constructor(dir: string, clientPort: number, peerPort: number, tls: TlsFiles | undefined) {
    this.dir = dir
    this.clientPort = clientPort
    this.peerPort = peerPort
    this.tls = tls
  }

  static async start(options: { tls?: boolean } = {}): Promise<EtcdServer> {
    const dir = mkdtempSync(join(tmpdir(), 'machined-ts-etcd-'))
    const tls = options.tls === true ? makeTls(dir) : undefined
    const server = new EtcdServer(dir, await freePort(), await freePort(), tls)
    await server.resume()
    return server
  }

  get url(): string {
    return `${this.tls === undefined ? 'http' : 'https'}://127.0.0.1:${this.clientPort}`
  }

  get config(): EtcdConfig {
    const t = this.tls
    return {
      endpoints: [this.url],
      tls: t === undefined ? undefined : { ca: readFileSync(t.ca), cert: readFileSync(t.cert), key: readFileSync(t.key) },
      auth: undefined,
    }
  }

  /** A client of our own (close it). */
  client(): Etcd3 {
    return openEtcd(this.config, { callDeadlineMs: 2000 })
  }

  get log(): string {
    return this.#log
  }

  get running(): boolean {
    return this.#child !== undefined
  }

  /** Starts etcd on the same ports and data directory (a fresh one after wipe()); resolves once it serves. */
  async resume(): Promise<void> {
    if (this.#child !== undefined) throw new Error('etcd is running')
    const t = this.tls
    const data = join(this.dir, `data-${this.#generation}`)
    const child = spawn('etcd', [
      '--name', 'fleet-test', '--data-dir', data,
      '--listen-client-urls', this.url, '--advertise-client-urls', this.url,
      '--listen-peer-urls', `http://127.0.0.1:${this.peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${this.peerPort}`,
      '--initial-cluster', `fleet-test=http://127.0.0.1:${this.peerPort}`,
      '--logger', 'zap', '--log-level', 'warn',
      ...(t === undefined ? [] : ['--cert-file', t.serverCert, '--key-file', t.serverKey, '--trusted-ca-file', t.ca, '--client-cert-auth']),
    ], { stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr?.on('data', (c: Buffer) => { this.#log = (this.#log + c.toString()).slice(-20_000) })
    this.#child = child
    child.once('exit', () => { if (this.#child === child) this.#child = undefined })
    const client = this.client()
    try {
      const deadline = Date.now() + 20_000
      for (;;) {
        if (this.#child !== child) throw new Error(`etcd exited at start:\n${this.#log}`)
        try {
          await client.kv.range({ key: Buffer.from('/') })
          return
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`etcd did not serve within 20 s (${String(err)}):\n${this.#log}`)
          await new Promise((r) => setTimeout(r, 100))
        }
      }
    } finally {
      client.close()
    }
  }

  /** SIGKILL, as a crash or a power cut would stop it. */
  async kill(): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGKILL')
    await exited
    this.#child = undefined
  }

  /** The next resume() starts from an empty data directory: etcd lost all its data. */
  wipe(): void {
    if (this.#child !== undefined) throw new Error('stop etcd first')
    rmSync(join(this.dir, `data-${this.#generation}`), { recursive: true, force: true })
    this.#generation++
  }

  async stop(): Promise<void> {
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }
}
