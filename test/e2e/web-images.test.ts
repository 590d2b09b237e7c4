// machined-web's images page (issue 14): this host's pool through the
// client library — every image machinectl lists, with its type, read-only
// flag and disk usage (a raw image's allocated blocks), new images shown
// without a reload — and the transfers under way, with a real machinectl
// import-tar held open on a FIFO until it is cancelled. Headless Chromium; a
// screenshot goes to test-artifacts/web/images.png.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { imageSandbox, type ImageWorld } from '../helpers/image-pool.ts'
import { loggedInPage, screenshot, WebRun } from '../helpers/web.ts'
import type { ImagesPayload } from '../../src/web/api-types.ts'
import { formatBytes } from '../../src/web/ui/format.ts'

void describe('machined-web: images', { timeout: 120_000 }, () => {
  let world: ImageWorld
  let web: WebRun
  let page: Page
  let close: () => Promise<void>

  before(async () => {
    world = await imageSandbox()
    web = await WebRun.start(world.sb)
    ;({ page, close } = await loggedInPage(web))
  })

  after(async () => {
    await close?.()
    await web?.stop()
    await world?.stop()
  })

  it('GET /api/images lists what machinectl lists, with each raw image\'s allocated size as its usage', async () => {
    const r = await web.api('/api/images')
    assert.equal(r.status, 200)
    const p = await r.json() as ImagesPayload
    const listed = await world.sb.exec(['machinectl', 'list-images', '--all', '--no-legend'])
    assert.equal(listed.code, 0, listed.stderr)
    const names = listed.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => l.split(/\s+/)[0]!).sort()
    assert.deepEqual(p.images.map((i) => i.name).sort(), names)
    for (const name of ['os.raw', 'rodisk.raw']) {
      const st = statSync(join(world.pool.dir, name))
      const row = p.images.find((i) => i.name === `${name.slice(0, -4)}`)!
      assert.equal(row.type, 'raw')
      assert.equal(row.usage, st.blocks * 512, `${name}'s usage`)
    }
    assert.equal(p.images.find((i) => i.name === 'rodisk')!.readOnly, true)
    assert.equal(p.images.find((i) => i.name === 'alpha')!.readOnly, false)
    assert.deepEqual(p.transfers, [], 'no transfer under way')
    assert.equal((await fetch(`${web.origin}/api/images`)).status, 401)
  })

  it('the page shows every image with its usage, follows the pool without a reload, and a transfer while it runs', async () => {
    await page.goto(`${web.origin}/images`)
    await page.locator('[data-image="os"]').waitFor({ timeout: 5000 })
    const os = await page.locator('[data-image="os"] > *').allTextContents()
    assert.deepEqual(os.slice(0, 3), ['os', 'raw', 'no'])
    // A raw image's limit is its size (as machined reports it): a gauge of its usage against that.
    const api = (await (await web.api('/api/images')).json() as ImagesPayload).images.find((i) => i.name === 'os')!
    assert.ok(api.limit !== null && api.usage !== null)
    assert.equal(os[3]!.trim(), `${formatBytes(api.usage)} of ${formatBytes(api.limit)}`)
    assert.equal(await page.locator('[data-image="os"] progress').getAttribute('value'), String(Math.min(api.usage, api.limit)))
    assert.deepEqual((await page.locator('[data-image="rodisk"] > *').allTextContents()).slice(0, 3), ['rodisk', 'raw', 'yes'])
    await page.getByText('No transfers under way.').waitFor()
    // A transfer that waits for input until cancelled: an import from a FIFO the import itself holds open for writing.
    world.sb.execSync(['mkfifo', '/run/web-held'])
    const held = world.sb.exec(['sh', '-c', 'exec machinectl import-tar - webheld 0<>/run/web-held'], { timeoutMs: 60_000 })
    const row = page.locator('[data-transfer]')
    await row.waitFor({ timeout: 8000 })
    const transfers = (await (await web.api('/api/images')).json() as ImagesPayload).transfers
    assert.equal(transfers?.length, 1)
    assert.equal(transfers[0]!.type, 'import-tar')
    assert.equal(transfers[0]!.local, 'webheld')
    assert.deepEqual((await row.locator('> *').allTextContents()).slice(0, 2), [String(transfers[0]!.id), 'import-tar'])
    await screenshot(page, 'images.png')
    const cancelled = await world.sb.exec(['machinectl', 'cancel-transfer', String(transfers[0]!.id)])
    assert.equal(cancelled.code, 0, cancelled.stderr)
    assert.notEqual((await held).code, 0, 'the cancelled import fails')
    await page.getByText('No transfers under way.').waitFor({ timeout: 8000 })
    mkdirSync(join(world.pool.dir, 'fresh'))
    await page.locator('[data-image="fresh"]').waitFor({ timeout: 8000 })
    assert.equal(await page.locator('[data-image]').count(), (await (await web.api('/api/images')).json() as ImagesPayload).images.length)
  })
})
