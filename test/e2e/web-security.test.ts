// machined-web's access rules (issue 14): the token file, 401 without a
// login or the token (and no machine data in it), expired sessions, the
// Origin rule on POST and on WebSocket upgrades, a login page that names
// no machine, and hostile strings shown as text: a service and an OS name
// full of markup through the real daemon, and a machine name full of it
// from a source that lies (as another host's could, once the fleet feeds
// the page).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import WebSocket from 'ws'
import { REPO, Sandbox, eventually, sleep } from '../helpers/sandbox.ts'
import { registerMachine } from '../helpers/busctl.ts'
import { busyboxTree, type BusyboxTree } from '../helpers/busybox-tree.ts'
import { machineLeader, SpawnRun, stopGuest } from '../helpers/spawn.ts'
import { launchBrowser, logIn, WebRun } from '../helpers/web.ts'
import { WebServer } from '../../src/web/server.ts'
import { newSecret } from '../../src/web/access.ts'
import type { MachineRow } from '../../src/web/api-types.ts'
import type { MachineSource } from '../../src/web/source.ts'
import { NotSupportedError } from '../../src/protocol/errors.ts'

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** A request with exactly the headers given (Origin included, which fetch() would not let us forge). */
function send(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Logs in with the token and returns the session cookie ("name=value"). */
async function sessionCookie(web: WebRun): Promise<string> {
  const r = await send(web.loginUrl, 'GET', {})
  assert.equal(r.status, 303)
  const setCookie = ([] as string[]).concat(r.headers['set-cookie'] ?? [])[0] ?? ''
  assert.match(setCookie, /; HttpOnly/)
  assert.match(setCookie, /; SameSite=Strict/)
  return setCookie.split(';')[0]!
}

/** The outcome of a WebSocket handshake to the terminal of `name`. */
function upgrade(web: WebRun, name: string, headers: Record<string, string>): Promise<{ status: number; notice?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${web.origin.replace('http', 'ws')}/api/machines/${encodeURIComponent(name)}/terminal?mode=shell`, { headers })
    ws.on('unexpected-response', (_req, res) => { resolve({ status: res.statusCode ?? 0 }); ws.terminate() })
    ws.on('message', (data: Buffer) => { resolve({ status: 101, notice: data.toString() }); ws.close() })
    ws.on('error', () => resolve({ status: -1 }))
  })
}

const HOSTILE = '<img src=x onerror="document.title=\'pwned\'"><script>document.title=\'pwned\'</script>'

void describe('machined-web: access', { timeout: 120_000 }, () => {
  let sb: Sandbox
  let web: WebRun
  let name: string

  before(async () => {
    sb = await Sandbox.start()
    web = await WebRun.start(sb)
    const leader = await sb.spawnLeader()
    name = sb.name('sec')
    assert.ok((await registerMachine(sb, { name, leader: leader.pid! })).ok)
    await eventually(async () => (await (await web.api('/api/machines')).text()).includes(name), 5000, 'the machine in the API')
  })

  after(async () => {
    await web?.stop()
    await sb?.stop()
  })

  it('writes a random 256-bit token, readable by root only, and prints the URL that logs in with it', () => {
    const dir = statSync(sb.hostPath('/run/machined-web'))
    const file = statSync(sb.hostPath('/run/machined-web/token'))
    assert.equal(dir.mode & 0o777, 0o700)
    assert.equal(file.mode & 0o777, 0o600)
    assert.equal(file.uid, 0)
    assert.match(web.token, /^[A-Za-z0-9_-]{43}$/)
  })

  it('answers 401 with no machine data without a login or the token, and with a wrong token', async () => {
    for (const path of ['/api/machines', `/api/machines/${name}`, '/api/events', '/metrics', '/', `/machines/${name}`, '/assets/app.js']) {
      for (const headers of [{}, { Authorization: 'Bearer wrong' }, { Authorization: `Bearer ${web.token}x` }, { Cookie: 'machined_web_session=forged' }]) {
        const r = await send(`${web.origin}${path}`, 'GET', headers)
        assert.equal(r.status, 401, `${path} ${JSON.stringify(headers)}`)
        assert.ok(!r.body.includes(name), `${path} leaks the machine's name`)
      }
    }
    const wrong = await send(`${web.origin}/login?token=wrong`, 'GET', {})
    assert.equal(wrong.status, 401)
    assert.equal(wrong.headers['set-cookie'], undefined)
    assert.equal((await send(`${web.origin}/api/machines/${name}/kill`, 'POST', { Authorization: 'Bearer wrong' })).status, 401)
    assert.equal((await upgrade(web, name, {})).status, 401)
  })

  it('the login page names no machine and runs no script', async () => {
    for (const r of [await send(`${web.origin}/login`, 'GET', {}), await send(`${web.origin}/`, 'GET', {})]) {
      assert.match(r.body, /<form method="get" action="\/login">/)
      assert.ok(!r.body.includes(name))
      assert.doesNotMatch(r.body, /<script/i)
    }
    assert.equal((await send(`${web.origin}/assets/login.css`, 'GET', {})).status, 200)
  })

  it('a session cookie or the token lets requests in', async () => {
    const cookie = await sessionCookie(web)
    const byCookie = await send(`${web.origin}/api/machines`, 'GET', { Cookie: cookie })
    assert.equal(byCookie.status, 200)
    assert.ok((JSON.parse(byCookie.body) as MachineRow[]).some((m) => m.name === name))
    assert.equal((await web.api('/metrics')).status, 200)
  })

  it('refuses cross-origin POSTs and cookie POSTs without an Origin; the machine is untouched', async () => {
    const cookie = await sessionCookie(web)
    const url = `${web.origin}/api/machines/${name}/terminate`
    const host = new URL(web.origin).host
    for (const headers of [{ Cookie: cookie, Origin: 'http://evil.example' }, { Cookie: cookie, Origin: `http://localhost:${new URL(web.origin).port}` }, { Cookie: cookie }]) {
      const r = await send(url, 'POST', headers)
      assert.equal(r.status, 403, JSON.stringify(headers))
      assert.equal((JSON.parse(r.body) as { error: string }).error, 'CrossOrigin')
    }
    assert.equal((await send(url, 'POST', { Authorization: `Bearer ${web.token}`, Origin: 'http://evil.example' })).status, 403)
    assert.equal((await web.api(`/api/machines/${name}`)).status, 200)
    // Same origin: allowed (SIGCONT harms nothing).
    const ok = await send(`${web.origin}/api/machines/${name}/kill`, 'POST', { Cookie: cookie, Origin: `http://${host}`, 'Content-Type': 'application/json' }, '{"signal":18}')
    assert.equal(ok.status, 204, ok.body)
  })

  it('refuses cross-origin WebSocket upgrades; a same-origin one reaches the daemon (whose error names come back)', async () => {
    const cookie = await sessionCookie(web)
    assert.equal((await upgrade(web, name, { Cookie: cookie, Origin: 'http://evil.example' })).status, 403)
    assert.equal((await upgrade(web, name, { Cookie: cookie })).status, 403)
    const same = await upgrade(web, 'no-such-machine', { Cookie: cookie, Origin: web.origin })
    assert.equal(same.status, 101)
    assert.match(same.notice ?? '', /org\.freedesktop\.machine1\.NoSuchMachine/)
  })

  it('API errors carry the daemon\'s error names', async () => {
    const r = await web.api('/api/machines/no-such-machine')
    assert.equal(r.status, 404)
    assert.deepEqual(Object.keys(await r.json() as object), ['error', 'code', 'message'])
    const bad = await web.api(`/api/machines/${name}/kill`, { method: 'POST', body: '{"signal":99}' })
    assert.equal(bad.status, 400)
    assert.equal(((await bad.json()) as { error: string }).error, 'org.freedesktop.DBus.Error.InvalidArgs')
  })

  it('an expired session gets 401 and the login page again', async () => {
    const short = await WebRun.start(sb, ['--session-lifetime=1', '--runtime-dir=/run/machined-web-short'])
    try {
      const cookie = await sessionCookie(short)
      assert.equal((await send(`${short.origin}/api/machines`, 'GET', { Cookie: cookie })).status, 200)
      await sleep(1500)
      assert.equal((await send(`${short.origin}/api/machines`, 'GET', { Cookie: cookie })).status, 401)
      const page = await send(`${short.origin}/`, 'GET', { Cookie: cookie })
      assert.equal(page.status, 401)
      assert.match(page.body, /Your session has ended/)
    } finally {
      await short.stop()
    }
  })
})

void describe('machined-web: hostile strings are shown as text', { timeout: 120_000 }, () => {
  let sb: Sandbox
  let web: WebRun
  let tree: BusyboxTree
  let run: SpawnRun
  let guest: string

  before(async () => {
    sb = await Sandbox.start()
    web = await WebRun.start(sb)
    tree = busyboxTree()
    // The guest's own os-release is the guest's to write.
    const { writeFileSync } = await import('node:fs')
    writeFileSync(join(tree.path, 'etc/os-release'), `ID=busybox\nPRETTY_NAME="${HOSTILE.replace(/"/g, '\\"')}"\n`)
    guest = sb.name('xss')
    run = SpawnRun.start(sb, ['-D', tree.path, '-M', guest, '-b'])
    await machineLeader(sb, guest)
  })

  after(async () => {
    await stopGuest(run)
    tree?.remove()
    await web?.stop()
    await sb?.stop()
  })

  it('a service and an OS name full of markup, from the real daemon, are text on the list and the machine page', async () => {
    const leader = await sb.spawnLeader()
    const name = sb.name('xss-svc')
    assert.ok((await registerMachine(sb, { name, leader: leader.pid!, service: HOSTILE })).ok)
    const browser = await launchBrowser()
    try {
      const page = await browser.context.newPage()
      const dialogs: string[] = []
      page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss() })
      await logIn(page, web)
      const row = page.locator(`[data-machine="${name}"]`)
      await row.waitFor()
      assert.equal(await row.locator('[role=cell]').nth(2).textContent(), HOSTILE)
      const guestRow = page.locator(`[data-machine="${guest}"]`)
      await eventually(async () => (await guestRow.locator('[role=cell]').nth(3).textContent()) === HOSTILE, 10_000, 'the guest\'s OS name')
      await page.goto(`${web.origin}/machines/${guest}`)
      await page.getByText(HOSTILE, { exact: true }).first().waitFor()
      assert.equal(await page.locator('#app img, #app script').count(), 0)
      assert.notEqual(await page.title(), 'pwned')
      assert.deepEqual(dialogs, [])
    } finally {
      await browser.close()
    }
  })

  it('a machine name full of markup (a lying source, as a remote host could be) is text, in the row, its data-machine and its page', async () => {
    const hostileName = `${HOSTILE}"'><svg onload=alert(1)>`
    const row: MachineRow = { host: '', name: hostileName, class: 'container', service: 'x', id: '', unit: 'u', leader: 0, os: HOSTILE, addresses: [], since: Date.now() }
    const source: MachineSource = {
      host: '',
      machines: () => [row],
      history: () => undefined,
      subscribe: () => () => undefined,
      readMetrics: () => Promise.resolve([]),
      status: () => Promise.resolve({ ...row, state: 'running', rootDirectory: HOSTILE, interfaces: [HOSTILE], uidShift: 0, leaderCommand: HOSTILE, guestId: '', tree: { cgroup: `/${HOSTILE}`, processes: [{ pid: 1, command: HOSTILE }], children: [] }, sample: null }),
      act: () => Promise.reject(new NotSupportedError('no')),
      openTerminal: () => Promise.reject(new NotSupportedError('no')),
      close: () => undefined,
    }
    const token = newSecret()
    const server = new WebServer({
      sources: [source], token, listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, sessionLifetimeMs: 60_000, maxEventStreams: 4,
      assetDir: join(REPO, 'dist/web/ui'),
    })
    const origin = await server.start()
    const browser = await launchBrowser()
    try {
      const page = await browser.context.newPage()
      const dialogs: string[] = []
      page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss() })
      await page.goto(`${origin}/login?token=${token}`)
      const cell = page.locator('[data-machine] [role=cell] a')
      await cell.waitFor()
      assert.equal(await cell.textContent(), hostileName)
      assert.equal(await page.locator('[data-machine]').getAttribute('data-machine'), hostileName)
      await cell.click()
      await page.locator('h1').filter({ hasText: 'pwned' }).first().waitFor({ timeout: 5000 })
      assert.equal(await page.locator('h1').textContent(), hostileName)
      await page.locator('pre.tree').filter({ hasText: 'onerror' }).waitFor()
      assert.equal(await page.locator('#app img, #app script, #app svg[onload]').count(), 0)
      assert.notEqual(await page.title(), 'pwned')
      await sleep(300)
      assert.deepEqual(dialogs, [])
    } finally {
      await browser.close()
      await server.close()
    }
  })
})
