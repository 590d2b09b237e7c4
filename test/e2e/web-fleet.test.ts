// machined-web's fleet view (issue 15 item 3): a real etcd (Debian's
// etcd-server) on 127.0.0.1 and two hosts, each its own machined in its
// own mount and UTS namespace publishing with --fleet-etcd; machined-web
// runs on one of them with --fleet-etcd and shows the other host's
// machines as a group of the list, live, from ONE etcd watch on the fleet
// prefix (counted with etcd's own watcher gauge). The page is headless
// Chromium; a screenshot goes to test-artifacts/web/fleet.png.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { Page } from 'playwright-core'
import { callManager, registerMachine } from '../helpers/busctl.ts'
import { EtcdServer } from '../helpers/etcd.ts'
import { eventually, Sandbox, sleep } from '../helpers/sandbox.ts'
import { loggedInPage, screenshot, WebRun } from '../helpers/web.ts'

const TTL = 3

describe('machined-web: the fleet', { timeout: 180_000 }, () => {
  let etcd: EtcdServer
  const hosts: Record<'alpha' | 'beta', Sandbox> = {} as Record<'alpha' | 'beta', Sandbox>
  const run = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`
  const hostnames = { alpha: `alpha-${run}`, beta: `beta-${run}` }
  const ids = { alpha: randomBytes(16).toString('hex'), beta: randomBytes(16).toString('hex') }
  let web: WebRun
  let page: Page
  let close: () => Promise<void>
  let watchersBefore = 0

  /** etcd's gauge of open watchers (etcd_debugging_mvcc_watcher_total), from its /metrics. */
  async function watchers(): Promise<number> {
    const text = await (await fetch(`${etcd.url}/metrics`)).text()
    const m = /^etcd_debugging_mvcc_watcher_total (\d+)/m.exec(text)
    assert.ok(m !== null, 'etcd reports no watcher gauge')
    return Number(m[1])
  }

  async function register(host: 'alpha' | 'beta', base: string): Promise<string> {
    const sb = hosts[host]
    const name = sb.name(base)
    const leader = await sb.spawnLeader()
    const r = await registerMachine(sb, { name, leader: leader.pid!, service: `svc-${host}` })
    assert.equal(r.ok, true, r.stderr)
    return name
  }

  const row = (host: string, name: string): ReturnType<Page['locator']> => page.locator(`[data-machine="${name}"]`).filter({ has: page.locator(`a[href="/machines/${encodeURIComponent(name)}${host === '' ? '' : `?host=${encodeURIComponent(host)}`}"]`) })
  const group = (host: string): ReturnType<Page['locator']> => page.locator(`[data-host="${host}"]`)

  /** Milliseconds from now until the locator is there (or gone). */
  const timeUntil = async (l: ReturnType<Page['locator']>, state: 'attached' | 'detached', timeout: number): Promise<number> => {
    const start = Date.now()
    await l.waitFor({ state, timeout })
    return Date.now() - start
  }

  const names: Record<'alpha' | 'beta', string[]> = { alpha: [], beta: [] }

  before(async () => {
    etcd = await EtcdServer.start()
    for (const h of ['alpha', 'beta'] as const) {
      hosts[h] = await Sandbox.start({ host: { hostname: hostnames[h], machineId: ids[h] }, daemonArgs: [`--fleet-etcd=${etcd.url}`, `--fleet-ttl=${TTL}`] })
    }
    names.alpha.push(await register('alpha', 'here'))
    for (const base of ['web', 'db', 'cache']) names.beta.push(await register('beta', base))
    watchersBefore = await watchers()
    web = await WebRun.start(hosts.alpha, [`--fleet-etcd=${etcd.url}`])
    ;({ page, close } = await loggedInPage(web))
  })

  after(async () => {
    await close?.()
    await web?.stop()
    for (const sb of Object.values(hosts)) await sb.stop()
    await etcd?.stop()
  })

  it('shows this host\'s machines and the other host\'s as groups, from one etcd watch whatever the number of hosts and machines', async () => {
    for (const n of names.alpha) await row('', n).waitFor({ timeout: 5000 })
    for (const n of names.beta) await row(hostnames.beta, n).waitFor({ timeout: 5000 })
    assert.equal(await group('').textContent(), `This host: ${names.alpha.length} machine${names.alpha.length === 1 ? '' : 's'}`)
    assert.equal(await group(hostnames.beta).textContent(), `${hostnames.beta}: 3 machines`)
    // This host's own publisher is not shown a second time under its hostname.
    assert.equal(await group(hostnames.alpha).count(), 0)
    const cells = await row(hostnames.beta, names.beta[0]!).locator('[role=cell]').allTextContents()
    assert.deepEqual(cells.slice(0, 3), [names.beta[0], 'container', 'svc-beta'])
    assert.equal(await watchers() - watchersBefore, 1, 'machined-web holds one watch')
    await screenshot(page, 'fleet.png')

    // More machines on the other host: still the one watch.
    for (const base of ['more1', 'more2']) names.beta.push(await register('beta', base))
    for (const n of names.beta) await row(hostnames.beta, n).waitFor({ timeout: 5000 })
    assert.equal(await watchers() - watchersBefore, 1)
  })

  it('a machine registered or unregistered on the other host appears and goes within a second, without a reload', async () => {
    const requests: string[] = []
    page.on('request', (r) => requests.push(new URL(r.url()).pathname))
    const name = await register('beta', 'late')
    assert.ok(await timeUntil(row(hostnames.beta, name), 'attached', 5000) <= 1000)
    assert.equal(await group(hostnames.beta).textContent(), `${hostnames.beta}: ${names.beta.length + 1} machines`)
    assert.equal((await callManager(hosts.beta, 'UnregisterMachine', 's', name)).ok, true)
    assert.ok(await timeUntil(row(hostnames.beta, name), 'detached', 5000) <= 1000)
    assert.deepEqual(requests.filter((p) => p.startsWith('/api/machines')), [], 'no re-read of the list')
  })

  it('the JSON API carries each machine\'s host; a remote machine\'s facts are shown, its actions refused with NotSupported', async () => {
    const list = await (await web.api('/api/machines')).json() as { host: string; name: string }[]
    const mine = list.filter((m) => m.host === '' ? names.alpha.includes(m.name) : m.host === hostnames.beta)
    assert.deepEqual(mine.filter((m) => m.host === '').map((m) => m.name), names.alpha)
    assert.deepEqual(mine.filter((m) => m.host !== '').map((m) => m.name).sort(), [...names.beta].sort())
    const target = names.beta[0]!
    const status = await web.api(`/api/machines/${encodeURIComponent(target)}?host=${encodeURIComponent(hostnames.beta)}`)
    assert.equal(status.status, 200)
    const facts = await status.json() as { host: string; name: string; service: string; state: string; tree: unknown }
    assert.deepEqual([facts.host, facts.name, facts.service, facts.state, facts.tree], [hostnames.beta, target, 'svc-beta', 'running', null])
    const refused = await web.api(`/api/machines/${encodeURIComponent(target)}/poweroff?host=${encodeURIComponent(hostnames.beta)}`, { method: 'POST', headers: { Origin: web.origin } })
    assert.equal(refused.status, 501)
    assert.equal((await refused.json() as { error: string }).error, 'org.freedesktop.DBus.Error.NotSupported')
    const unknown = await web.api(`/api/machines/${encodeURIComponent(target)}?host=no-such-host`)
    assert.equal(unknown.status, 404)

    // Its page: the facts with the host, no action buttons.
    await page.goto(`${web.origin}/machines/${encodeURIComponent(target)}?host=${encodeURIComponent(hostnames.beta)}`)
    await page.getByText(`On host ${hostnames.beta}`).waitFor({ timeout: 5000 })
    assert.equal(await page.locator('[data-action]').count(), 0)
    await page.goto(`${web.origin}/`)
  })

  it('kill -9 of the other host\'s daemon: its group goes within TTL + 1 s, and comes back with its machines when it restarts', async () => {
    await group(hostnames.beta).waitFor({ timeout: 5000 })
    await hosts.beta.stopDaemon('SIGKILL')
    assert.ok(await timeUntil(group(hostnames.beta), 'detached', (TTL + 2) * 1000) <= (TTL + 1) * 1000)
    assert.equal(await page.locator(`[data-machine]:has(a[href*="?host=${encodeURIComponent(hostnames.beta)}"])`).count(), 0, 'none of its machines left')
    for (const n of names.alpha) assert.equal(await row('', n).count(), 1, 'this host\'s machines stay')
    await hosts.beta.startDaemon()
    await group(hostnames.beta).waitFor({ timeout: 10_000 })
    await eventually(async () => await group(hostnames.beta).textContent() === `${hostnames.beta}: ${names.beta.length} machines`, 10_000, 'all of beta\'s machines back')
    await sleep(200)
    assert.equal(await watchers() - watchersBefore, 1, 'still one watch')
  })
})
