// Benchmark (issue 15, part 4): the fleet at 100 hosts × 100 machines on
// one local etcd (Debian's etcd-server, started here on free ports with a
// temporary data directory). Each simulated host is a FleetPublisher — the
// daemon's own publishing code — with its own etcd client and a source of
// 100 machines shaped like real records; no daemon runs. Measured:
//   1. `mctl list --fleet` with 10,000 machines (whole process, median and
//      p95 of N runs; text and JSON);
//   2. churn: changes at a fixed rate on random hosts, each timed from the
//      moment the source says "changed" to the moment a FleetWatch (one
//      prefix watch) sees the new value: p50/p99/max; and etcd
//      transactions per host against changes per host (batching);
//   3. a burst: every host registers 20 machines at once: transactions per host;
//   4. etcd killed and restarted (kill -9, down for a keep-alive period and
//      1 s, so every host notices at the same moment): time until every
//      host has resynced, and how the reconnects spread (jittered backoff);
//   5. the same with etcd's data wiped (a new lease and a full resync each).
// Run: `node --import tsx bench/fleet.ts` (--help). Results:
// bench/results/fleet.json. See bench/README.md.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Etcd3 } from 'etcd3'
import type { FleetLog } from '../src/fleet/backoff.ts'
import { FleetPublisher, type FleetSource } from '../src/fleet/publisher.ts'
import { FleetWatch, readFleet } from '../src/fleet/reader.ts'
import type { MachineRecord } from '../src/fleet/records.ts'
import { EtcdServer } from '../test/helpers/etcd.ts'

const HELP = `node --import tsx bench/fleet.ts [OPTIONS]

100 simulated hosts (the real FleetPublisher) × 100 machines against one
local etcd: mctl list --fleet, change visibility under churn, etcd writes
per host, reconnect after an etcd restart and after etcd lost its data.

Options:
  --hosts=N        Publishing hosts (default 100)
  --machines=N     Machines per host (default 100)
  --ttl=SECONDS    Lease TTL of every host (default 10, machined's default)
  --runs=N         mctl list --fleet runs (default 15)
  --churn-rate=N   Changes per second, fleet-wide (default 200)
  --churn-secs=N   How long the churn lasts (default 20)
  --json=FILE      Where to write results (default bench/results/fleet.json)
  --only=list      Measure mctl list --fleet only (no churn, burst or restarts)
  --hold           After the measurements, keep etcd and the publishing hosts
                   running (the fleet stays populated) until SIGINT/SIGTERM,
                   for profiling mctl against it; the etcd URL is printed
  -h, --help       Show this help
`

const REPO = new URL('..', import.meta.url).pathname
const QUIET: FleetLog = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined }

class SimulatedHost implements FleetSource {
  readonly hostId: string
  readonly hostname: string
  readonly machines = new Map<string, MachineRecord>()
  readonly #listeners = new Set<(name: string) => void>()
  publisher!: FleetPublisher
  client!: Etcd3
  /** When the publisher last came live (resynced). */
  liveAt = 0

  constructor(i: number) {
    this.hostId = (0x1000 + i).toString(16).padStart(32, 'b')
    this.hostname = `sim-host-${String(i).padStart(3, '0')}`
  }

  names(): Iterable<string> { return this.machines.keys() }
  record(name: string): MachineRecord | undefined { return this.machines.get(name) }
  onChange(l: (name: string) => void): { dispose(): void } { this.#listeners.add(l); return { dispose: () => this.#listeners.delete(l) } }

  set(name: string, service: string): void {
    const n = this.machines.size
    this.machines.set(name, {
      name, id: '', class: 'container', service, state: 'running', leader: 10_000 + n, rootDirectory: `/var/lib/machines/${name}`,
      unit: `machine-${name}.scope`, timestamp: String(Date.now() * 1000), networkInterfaces: [3 + n], vSockCid: undefined, sshAddress: undefined,
      osRelease: { ID: 'debian', VERSION_ID: '12', PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)' },
      addresses: [{ family: 2, address: `10.${n >> 8}.${n & 255}.2` }, { family: 10, address: `fd00::${n.toString(16)}:2` }],
    })
    for (const l of this.#listeners) l(name)
  }

  remove(name: string): void {
    this.machines.delete(name)
    for (const l of this.#listeners) l(name)
  }
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN
}
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until(check: () => boolean | Promise<boolean>, limitMs: number, what: string): Promise<number> {
  const start = Date.now()
  while (!(await check())) {
    if (Date.now() - start > limitMs) throw new Error(`${what}: not within ${limitMs} ms`)
    await sleep(10)
  }
  return Date.now() - start
}

/** Until SIGINT or SIGTERM: the fleet stays published, for profiling mctl against it. */
async function hold(url: string, log: (s: string) => void): Promise<void> {
  log(`holding the fleet at ${url} (mctl list --fleet=${url}); SIGINT or SIGTERM ends it`)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '100' }, machines: { type: 'string', default: '100' }, ttl: { type: 'string', default: '10' },
      runs: { type: 'string', default: '15' }, 'churn-rate': { type: 'string', default: '200' }, 'churn-secs': { type: 'string', default: '20' },
      json: { type: 'string', default: join(REPO, 'bench/results/fleet.json') }, help: { type: 'boolean', short: 'h' },
      only: { type: 'string' }, hold: { type: 'boolean' },
    },
  })
  if (values.help === true) { process.stdout.write(HELP); return }
  if (values.only !== undefined && values.only !== 'list') throw new Error(`--only=${values.only}: only "list" is known`)
  const nHosts = Number(values.hosts)
  const perHost = Number(values.machines)
  const ttl = Number(values.ttl)
  const results: Record<string, unknown> = { hosts: nHosts, machinesPerHost: perHost, ttl, node: process.version, date: new Date().toISOString() }
  const log = (s: string): void => { process.stderr.write(`${s}\n`) }

  spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO, stdio: 'inherit' })
  spawnSync(process.execPath, ['scripts/build-bins.js'], { cwd: REPO, stdio: 'inherit' })
  const etcd = await EtcdServer.start()
  const hosts: SimulatedHost[] = []
  let watchClient: Etcd3 | undefined
  let watch: FleetWatch | undefined
  try {
    // ── Start: every host publishes its machines ───────────────────────────
    const t0 = Date.now()
    for (let i = 0; i < nHosts; i++) {
      const h = new SimulatedHost(i)
      for (let j = 0; j < perHost; j++) h.set(`m${String(j).padStart(3, '0')}-${i}`, 'sim')
      h.client = etcd.client()
      h.publisher = new FleetPublisher({
        etcd: h.client, hostId: h.hostId, source: h, log: QUIET, ttlSeconds: ttl,
        host: () => ({ hostname: h.hostname, bootId: '', software: 'bench' }),
      })
      h.publisher.onLive(() => { h.liveAt = Date.now() })
      hosts.push(h)
    }
    const total = nHosts * perHost
    await until(async () => (await readFleet(hosts[0]!.client)).view.machines().length === total, 60_000, 'the whole fleet')
    const startMs = Date.now() - t0
    results.startMs = startMs
    log(`fleet of ${total} machines published in ${startMs} ms`)

    // ── 1. mctl list --fleet ────────────────────────────────────────────────
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', TZ: 'UTC' }
    // Asynchronously: the publishers live in this process and must keep their leases alive meanwhile.
    const cpuReporter = join(REPO, 'bench/lib/cpu-at-exit.cjs')
    interface Run { ms: number; cpuMs: number; stdout: string; stderr: string; code: number | null }
    const timedRun = (argv: string[]): Promise<Run> => new Promise((resolve, reject) => {
      const start = process.hrtime.bigint()
      const child = spawn(process.execPath, ['-r', cpuReporter, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] })
      const out: Buffer[] = []
      const err: Buffer[] = []
      const cpu: Buffer[] = []
      child.stdout!.on('data', (c: Buffer) => out.push(c))
      child.stderr!.on('data', (c: Buffer) => err.push(c))
      ;(child.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => cpu.push(c))
      child.on('error', reject)
      child.on('close', (code) => {
        const ms = Number(process.hrtime.bigint() - start) / 1e6
        const usage = JSON.parse(Buffer.concat(cpu).toString() || '{"user":NaN,"system":NaN}') as { user: number; system: number }
        resolve({ ms, cpuMs: (usage.user + usage.system) / 1000, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code })
      })
    })
    const mctl = async (extra: string[]): Promise<Run> => {
      const r = await timedRun([join(REPO, 'bin/mctl.js'), 'list', `--fleet=${etcd.url}`, ...extra])
      const ok = extra.length > 0 ? (JSON.parse(r.stdout) as unknown[]).length === total : r.stdout.includes(`${total} machines listed on ${nHosts} hosts.`)
      if (r.code !== 0 || !ok) throw new Error(`mctl failed (${r.code}): ${r.stderr} ${r.stdout.slice(-300)}`)
      return r
    }
    await mctl([]) // warm the page cache
    const text: Run[] = []
    const json: Run[] = []
    const load: number[] = []
    for (let i = 0; i < Number(values.runs); i++) {
      load.push(loadavg()[0]!)
      text.push(await mctl([]))
      json.push(await mctl(['--output=json']))
    }
    const nodeStart: number[] = []
    for (let i = 0; i < 5; i++) nodeStart.push((await timedRun(['-e', '0'])).ms)
    const stats = (runs: Run[]): Record<string, number> => ({
      medianMs: round(percentile(runs.map((r) => r.ms), 50)), p95Ms: round(percentile(runs.map((r) => r.ms), 95)),
      cpuMedianMs: round(percentile(runs.map((r) => r.cpuMs), 50)), cpuP95Ms: round(percentile(runs.map((r) => r.cpuMs), 95)),
    })
    const t = stats(text)
    const j = stats(json)
    results.mctlList = {
      ...t, jsonMedianMs: j.medianMs, jsonP95Ms: j.p95Ms, jsonCpuMedianMs: j.cpuMedianMs,
      nodeStartMs: round(percentile(nodeStart, 50)), loadAverage: { min: round(Math.min(...load), 2), max: round(Math.max(...load), 2) },
    }
    log(`mctl list --fleet (${total} machines): ${JSON.stringify(results.mctlList)}`)

    if (values.only === undefined) {
      // ── 2. Churn: visibility and writes per host ───────────────────────────
      watchClient = etcd.client()
      /** Changes not seen yet, by host ID and machine name: the tag written and when. */
      const pending = new Map<string, { hostId: string; name: string; tag: string; sent: number }>()
      const latencies: number[] = []
      watch = new FleetWatch(watchClient, {
        onChange: (view) => {
          if (pending.size === 0) return
          const now = Date.now()
          const byId = new Map(view.hosts().map((h) => [h.hostId, h]))
          for (const [key, p] of pending) {
            if (byId.get(p.hostId)?.machines.get(p.name)?.service !== p.tag) continue
            latencies.push(now - p.sent)
            pending.delete(key)
          }
        },
      })
      await watch.ready()
      const before = hosts.map((h) => ({ ...h.publisher.stats }))
      const rate = Number(values['churn-rate'])
      const secs = Number(values['churn-secs'])
      let seq = 0
      const churnStart = Date.now()
      let removed = 0
      while (Date.now() - churnStart < secs * 1000) {
        const due = Math.floor(((Date.now() - churnStart) / 1000) * rate)
        for (; seq < due; seq++) {
          const h = hosts[Math.floor(Math.random() * nHosts)]!
          const names = [...h.machines.keys()].filter((n) => !pending.has(`${h.hostId}/${n}`))
          const name = names[Math.floor(Math.random() * names.length)]!
          const tag = `churn-${seq}`
          // A machine that went and another that came, or a changed record.
          let changed = name
          if (seq % 4 === 3) { h.remove(name); removed++; changed = `${name.split('-r')[0]!}-r${seq}`; h.set(changed, tag) } else h.set(name, tag)
          pending.set(`${h.hostId}/${changed}`, { hostId: h.hostId, name: changed, tag, sent: Date.now() })
        }
        await sleep(5)
      }
      await until(() => pending.size === 0, 10_000, 'every change seen')
      const churnSecs = (Date.now() - churnStart) / 1000
      const txPerHost = hosts.map((h, i) => h.publisher.stats.transactions - before[i]!.transactions)
      results.churn = {
        changes: seq, seconds: round(churnSecs), perSecond: rate, replaced: removed,
        visibleP50Ms: percentile(latencies, 50), visibleP99Ms: percentile(latencies, 99), visibleMaxMs: Math.max(...latencies),
        changesPerHostPerSecond: round(seq / nHosts / churnSecs, 2),
        transactionsPerHostPerSecond: round(txPerHost.reduce((a, b) => a + b, 0) / nHosts / churnSecs, 2),
        transactionsPerHostMax: Math.max(...txPerHost),
      }
      log(`churn: ${JSON.stringify(results.churn)}`)

      // ── 3. A burst: every host registers 20 machines at once ───────────────
      const beforeBurst = hosts.map((h) => h.publisher.stats.transactions)
      for (const h of hosts) for (let j = 0; j < 20; j++) h.set(`burst-${j}-${h.hostname}`, 'burst')
      const fleetSize = (): number => hosts.reduce((a, h) => a + h.machines.size, 0)
      await until(() => watch!.view.machines().length === fleetSize(), 10_000, 'the burst')
      const burstTx = hosts.map((h, i) => h.publisher.stats.transactions - beforeBurst[i]!)
      results.burst = { machinesPerHost: 20, transactionsPerHostMedian: percentile(burstTx, 50), transactionsPerHostMax: Math.max(...burstTx) }
      log(`burst: ${JSON.stringify(results.burst)}`)

      // ── 4./5. etcd restart, then etcd data loss ────────────────────────────
      // Down for longer than a keep-alive period, so that every host notices and retries at once: the herd to avoid.
      const downMs = Math.round((ttl * 1000) / 3 + 1000)
      for (const wipe of [false, true]) {
        for (const h of hosts) h.liveAt = 0
        const leasesBefore = hosts.reduce((a, h) => a + h.publisher.stats.leasesGranted, 0)
        await etcd.kill()
        await sleep(downMs)
        if (wipe) etcd.wipe()
        const back = Date.now()
        await etcd.resume()
        const serving = Date.now() - back
        await until(() => hosts.every((h) => h.liveAt > 0), 30_000, 'every host resynced')
        const all = await until(async () => (await readFleet(watchClient!)).view.machines().length === fleetSize(), 10_000, 'a complete fleet')
        const times = hosts.map((h) => h.liveAt - back - serving)
        const key = wipe ? 'dataLoss' : 'restart'
        results[key] = {
          downMs, etcdStartMs: serving, allResyncedMs: Math.max(...times), completeAfterMs: all + Math.max(...times),
          resyncedP10Ms: percentile(times, 10), resyncedP50Ms: percentile(times, 50), resyncedP90Ms: percentile(times, 90),
          newLeases: hosts.reduce((a, h) => a + h.publisher.stats.leasesGranted, 0) - leasesBefore,
        }
        log(`${key}: ${JSON.stringify(results[key])}`)
      }
    }
    if (values.hold === true) await hold(etcd.url, log)
  } finally {
    await watch?.close()
    watchClient?.close()
    for (const h of hosts) { await h.publisher.close(); h.client.close() }
    await etcd.stop()
  }
  mkdirSync(join(REPO, 'bench/results'), { recursive: true })
  writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`)
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`)
}

await main()
