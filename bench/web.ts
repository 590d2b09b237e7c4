/**
 * machined-web's timings, in a private sandbox as the tests run it (our
 * daemon on a private bus, `npx machined-web`, Debian's Chromium):
 *
 *   - a /metrics scrape (HTTP, the token as Bearer) and an
 *     io.machinedts.Metrics.List call with N machines registered
 *     (default 100; each leader a `sleep`, each machine its own scope);
 *   - the page with M machines (default 1,000): from navigation to the
 *     list's "M machines", and the main thread's long tasks (> 50 ms)
 *     over 10 s of live samples.
 *
 *   node --import tsx bench/web.ts [--machines=100] [--page-machines=1000] [--scrapes=200]
 *
 * Figures go to stdout and bench/results/web.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { parseArgs } from 'node:util'
import { Sandbox, sleep } from '../test/helpers/sandbox.ts'
import { VarlinkCaller } from '../test/helpers/clients.ts'
import { launchBrowser, logIn, WebRun } from '../test/helpers/web.ts'

const { values } = parseArgs({ options: { machines: { type: 'string', default: '100' }, 'page-machines': { type: 'string', default: '1000' }, scrapes: { type: 'string', default: '200' } } })
const MACHINES = Number(values.machines)
const PAGE_MACHINES = Number(values['page-machines'])
const SCRAPES = Number(values.scrapes)

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

async function timed(n: number, f: () => Promise<void>): Promise<{ median: number; p95: number }> {
  for (let i = 0; i < 10; i++) await f()
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await f()
    times.push(performance.now() - t0)
  }
  times.sort((a, b) => a - b)
  return { median: percentile(times, 50), p95: percentile(times, 95) }
}

function varlinkList(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(path)
    let data = ''
    s.on('data', (c: Buffer) => { data += c.toString(); if (data.includes('\0')) { s.end(); resolve() } })
    s.on('error', reject)
    s.write(`${JSON.stringify({ method: 'io.machinedts.Metrics.List', parameters: {} })}\0`)
  })
}

async function register(sb: Sandbox, varlink: VarlinkCaller, count: number, base: string): Promise<void> {
  const pending: Promise<Record<string, unknown>>[] = []
  for (let i = 0; i < count; i++) {
    const leader = await sb.spawnLeader()
    pending.push(varlink.call('io.systemd.Machine.Register', { name: sb.name(`${base}${i}`), class: 'container', leader: leader.pid!, service: 'bench' }))
  }
  for (const r of await Promise.all(pending)) if (r.error !== undefined) throw new Error(JSON.stringify(r))
}

const sb = await Sandbox.start()
const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, machines: MACHINES, pageMachines: PAGE_MACHINES }
try {
  const web = await WebRun.start(sb)
  const varlink = await VarlinkCaller.connect(sb)
  await register(sb, varlink, MACHINES, 'scrape')
  await sleep(1500)
  const lines = (await (await web.api('/metrics')).text()).split('\n').filter((l) => l.startsWith('machined_machine_tasks{')).length
  if (lines !== MACHINES) throw new Error(`${lines} machines in /metrics, expected ${MACHINES}`)
  results.scrape = await timed(SCRAPES, async () => { await (await web.api('/metrics')).text() })
  results.varlinkList = await timed(SCRAPES, () => varlinkList(sb.hostPath('/run/machined-web/io.machinedts.Metrics')))

  await register(sb, varlink, PAGE_MACHINES - MACHINES, 'page')
  await sleep(2000)
  const browser = await launchBrowser()
  try {
    const page = await browser.context.newPage()
    await logIn(page, web)
    const t0 = performance.now()
    await page.reload()
    await page.getByRole('status').filter({ hasText: new RegExp(`^${PAGE_MACHINES} machines$`) }).waitFor({ timeout: 60_000 })
    results.pageLoadMs = performance.now() - t0
    await page.evaluate(`window.__long = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration) }).observe({ type: 'longtask' })`)
    await sleep(10_000)
    const long = await page.evaluate<number[]>('window.__long')
    results.longTasks = { count: long.length, maxMs: long.length === 0 ? 0 : Math.max(...long) }
  } finally {
    await browser.close()
  }
  varlink.close()
  await web.stop()
} finally {
  await sb.stop()
}
const r = results as { scrape: { median: number; p95: number }; varlinkList: { median: number; p95: number }; pageLoadMs: number; longTasks: { count: number; maxMs: number } }
console.log(`GET /metrics, ${MACHINES} machines:            median ${r.scrape.median.toFixed(2)} ms, p95 ${r.scrape.p95.toFixed(2)} ms`)
console.log(`io.machinedts.Metrics.List, ${MACHINES} machines: median ${r.varlinkList.median.toFixed(2)} ms, p95 ${r.varlinkList.p95.toFixed(2)} ms`)
console.log(`page with ${PAGE_MACHINES} machines: ${r.pageLoadMs.toFixed(0)} ms to the full list; ${r.longTasks.count} long tasks in 10 s of samples, longest ${r.longTasks.maxMs.toFixed(0)} ms`)
mkdirSync(new URL('results/', import.meta.url), { recursive: true })
writeFileSync(new URL('results/web.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`)
