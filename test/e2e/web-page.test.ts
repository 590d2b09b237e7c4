// machined-web's page in headless Chromium (issue 14): the list follows
// registration over D-Bus and Varlink, termination and a leader's death
// within a second, without reloading; 1,000 machines are virtualised rows;
// every control has an accessible name; the theme follows the system's.
// Screenshots go to test-artifacts/web/.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import type { Page } from 'playwright-core'
import { Sandbox, eventually } from '../helpers/sandbox.ts'
import { callManager, registerMachine } from '../helpers/busctl.ts'
import { VarlinkCaller } from '../helpers/clients.ts'
import { loggedInPage, screenshot, unnamedControls, WebRun } from '../helpers/web.ts'

void describe('machined-web: the list', { timeout: 180_000 }, () => {
  let sb: Sandbox
  let web: WebRun
  let close: () => Promise<void>
  let page: Page
  let varlink: VarlinkCaller

  before(async () => {
    sb = await Sandbox.start()
    web = await WebRun.start(sb)
    ;({ page, close } = await loggedInPage(web))
    varlink = await VarlinkCaller.connect(sb)
  })

  after(async () => {
    varlink?.close()
    await close?.()
    await web?.stop()
    await sb?.stop()
  })

  const row = (name: string): ReturnType<Page['locator']> => page.locator(`[data-machine="${name}"]`)

  /** Milliseconds from now until `name`'s row is there (or gone). */
  const timeUntil = async (name: string, state: 'attached' | 'detached'): Promise<number> => {
    const start = Date.now()
    await row(name).waitFor({ state, timeout: 5000 })
    return Date.now() - start
  }

  it('a machine registered over D-Bus appears within a second, and goes within a second of TerminateMachine', async () => {
    const leader = await sb.spawnLeader()
    const name = sb.name('page-dbus')
    assert.ok((await registerMachine(sb, { name, leader: leader.pid!, service: 'page-test' })).ok)
    assert.ok(await timeUntil(name, 'attached') < 1000)
    const cells = await row(name).locator('[role=cell]').allTextContents()
    assert.deepEqual(cells.slice(0, 3), [name, 'container', 'page-test'])
    assert.equal(cells[5], String(leader.pid))
    await screenshot(page, 'list.png')
    assert.ok((await callManager(sb, 'TerminateMachine', 's', name)).ok)
    assert.ok(await timeUntil(name, 'detached') < 1000)
  })

  it('a machine registered over Varlink appears within a second, and goes within a second of its leader\'s death', async () => {
    const leader: ChildProcess = await sb.spawnLeader()
    const name = sb.name('page-varlink')
    const reply = await varlink.call('io.systemd.Machine.Register', { name, class: 'vm', leader: leader.pid!, service: 'page-vm' })
    assert.equal(reply.error, undefined, JSON.stringify(reply))
    assert.ok(await timeUntil(name, 'attached') < 1000)
    assert.equal(await row(name).locator('[role=cell]').nth(1).textContent(), 'vm')
    leader.kill('SIGKILL')
    assert.ok(await timeUntil(name, 'detached') < 1000)
  })

  it('the list follows registrations without reloading or re-reading the list', async () => {
    const requests: string[] = []
    page.on('request', (r) => requests.push(new URL(r.url()).pathname))
    const names = [sb.name('page-a'), sb.name('page-b')]
    for (const name of names) {
      const leader = await sb.spawnLeader()
      assert.ok((await registerMachine(sb, { name, leader: leader.pid! })).ok)
    }
    for (const name of names) await row(name).waitFor()
    for (const name of names) await callManager(sb, 'UnregisterMachine', 's', name)
    for (const name of names) await row(name).waitFor({ state: 'detached' })
    page.removeAllListeners('request')
    assert.deepEqual(requests, [])
  })

  it('every control has an accessible name; the theme follows the system\'s', async () => {
    assert.deepEqual(await unnamedControls(page), [])
    await page.getByRole('searchbox', { name: 'Filter machines by name, service or OS' }).waitFor()
    await page.getByRole('table', { name: 'Machines' }).waitFor()
    const background = (): Promise<string> => page.evaluate<string>('getComputedStyle(document.body).backgroundColor')
    await page.emulateMedia({ colorScheme: 'dark' })
    assert.equal(await background(), 'rgb(22, 24, 29)')
    await screenshot(page, 'list-dark.png')
    await page.emulateMedia({ colorScheme: 'light' })
    assert.equal(await background(), 'rgb(255, 255, 255)')
  })

  it('1,000 machines are virtualised rows: few elements, every machine reachable by scrolling and filtering', async () => {
    const names: string[] = []
    const pending: Promise<Record<string, unknown>>[] = []
    for (let i = 0; i < 1000; i++) {
      const leader = await sb.spawnLeader()
      const name = sb.name(`many${String(i).padStart(4, '0')}`)
      names.push(name)
      pending.push(varlink.call('io.systemd.Machine.Register', { name, class: 'container', leader: leader.pid!, service: 'many' }))
    }
    for (const r of await Promise.all(pending)) assert.equal(r.error, undefined, JSON.stringify(r))
    await page.getByRole('status').filter({ hasText: /^1000 machines$/ }).waitFor({ timeout: 20_000 })
    const rendered = await page.locator('[data-machine]').count()
    assert.ok(rendered > 10 && rendered < 100, `${rendered} row elements for 1,000 machines`)
    assert.equal(await page.getByRole('table', { name: 'Machines' }).getAttribute('aria-rowcount'), '1001')
    await page.locator('.viewport').evaluate((v: { scrollTop: number; readonly scrollHeight: number }) => { v.scrollTop = v.scrollHeight })
    await row(names.at(-1)!).waitFor()
    assert.ok(await page.locator('[data-machine]').count() < 100)
    await page.getByRole('searchbox').fill(names[500]!)
    await row(names[500]!).waitFor()
    assert.equal(await page.locator('[data-machine]').count(), 1)
    await page.getByRole('searchbox').fill('')
    await screenshot(page, 'list-1000.png')
    await eventually(async () => {
      const done = await Promise.all(names.map((name) => varlink.call('io.systemd.Machine.Unregister', { name })))
      return done.every((r) => r.error === undefined)
    }, 10_000, 'the machines to be unregistered')
    await page.getByRole('status').filter({ hasText: /^0 machines$/ }).waitFor({ timeout: 20_000 })
  })
})
