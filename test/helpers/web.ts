/**
 * machined-web as a user runs it (`npx machined-web`), inside a test
 * sandbox (so its token lands in the sandbox's private /run), and Debian's
 * Chromium driven by playwright-core: headless, sandboxless (we are root),
 * a fresh profile per browser, nothing downloaded.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { REPO, type Sandbox } from './sandbox.ts'

/** Where the tests put their screenshots (git-ignored). */
export const ARTIFACTS = join(REPO, 'test-artifacts', 'web')

export const CHROMIUM = '/usr/bin/chromium'
export const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
]

export class WebRun {
  readonly child: ChildProcess
  /** e.g. http://127.0.0.1:40123 */
  readonly origin: string
  readonly token: string
  #stderr: string

  private constructor(child: ChildProcess, origin: string, token: string, stderr: string) {
    this.child = child
    this.origin = origin
    this.token = token
    this.#stderr = stderr
    child.stderr?.on('data', (c: Buffer) => { this.#stderr += c.toString() })
  }

  /** `npx machined-web --listen=127.0.0.1:0 ARGS` in the sandbox; resolves once it printed its URL. */
  static async start(sb: Sandbox, args: string[] = []): Promise<WebRun> {
    const [nsenter, mountNs] = sb.nsenter
    const child = spawn(nsenter!, [mountNs!, `--wd=${REPO}`, '--', 'npx', '--no-install', 'machined-web', '--listen=127.0.0.1:0', ...args], {
      env: sb.env, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stderr?.on('data', (c: Buffer) => { err += c.toString() })
    const url = await new Promise<URL>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`machined-web printed no URL; stderr: ${err}`)), 20_000)
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString()
        const m = /^Open (\S+)$/m.exec(out)
        if (m !== null) { clearTimeout(timer); resolve(new URL(m[1]!)) }
      })
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`machined-web exited (${code}): ${err}`)) })
    })
    return new WebRun(child, url.origin, url.searchParams.get('token') ?? '', err)
  }

  get stderr(): string {
    return this.#stderr
  }

  get loginUrl(): string {
    return `${this.origin}/login?token=${this.token}`
  }

  /** fetch() with the token as a Bearer header. */
  api(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers)
    headers.set('Authorization', `Bearer ${this.token}`)
    return fetch(`${this.origin}${path}`, { ...init, headers })
  }

  /**
   * SIGTERM to machined-web itself (npx runs it as a child, maybe through a
   * shell that would not pass the signal on), as `kill $(pidof …)` would;
   * resolves once npx has exited.
   */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((r) => this.child.once('exit', r))
    try { process.kill(this.#serverPid(), 'SIGTERM') } catch { /* gone */ }
    await exited
  }

  /** The node process running bin/machined-web.js below npx. */
  #serverPid(): number {
    const stack = [this.child.pid!]
    while (stack.length > 0) {
      const p = stack.pop()!
      let cmdline = ''
      try { cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8') } catch { /* gone */ }
      const [argv0 = '', argv1 = ''] = cmdline.split('\0')
      if (/(^|\/)node$/.test(argv0) && /\/machined-web(\.js)?$/.test(argv1)) return p
      const r = spawnSync('pgrep', ['-P', String(p)], { encoding: 'utf8' })
      stack.push(...r.stdout.split('\n').filter((l) => l.trim() !== '').map(Number))
    }
    return this.child.pid!
  }
}

/** A headless Chromium with a fresh profile (its --user-data-dir, which playwright passes); close() removes it. */
export async function launchBrowser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'machined-web-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1500, height: 900 },
  })
  return {
    context,
    close: async () => {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

/** A fresh browser with one page logged in to `web`; close() ends the browser. */
export async function loggedInPage(web: WebRun): Promise<{ page: Page; close: () => Promise<void> }> {
  const browser = await launchBrowser()
  const page = await browser.context.newPage()
  await logIn(page, web)
  return { page, close: browser.close }
}

/** Logs the page in through the printed URL; it lands on the list. */
export async function logIn(page: Page, web: WebRun): Promise<void> {
  await page.goto(web.loginUrl)
  await page.waitForURL(`${web.origin}/`)
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true })
  const path = join(ARTIFACTS, name)
  await page.screenshot({ path, fullPage: false })
  return path
}

/**
 * Controls without an accessible name (aria-label, a <label>, or their
 * text). A string, not a function: tsx would wrap a function's inner
 * functions in a helper the page does not have.
 */
const UNNAMED_CONTROLS = `(() => {
  const named = (e) => {
    const label = e.getAttribute('aria-label') ?? (e.id === '' ? null : document.querySelector('label[for="' + e.id + '"]')?.textContent ?? null)
    return (label ?? e.textContent ?? '').trim() !== '' || e.closest('label') !== null
  }
  return [...document.querySelectorAll('button, a, input, select, textarea, [role=button]')]
    .filter((e) => !e.hidden && e.offsetParent !== null && !named(e))
    .map((e) => e.outerHTML.slice(0, 120))
})()`

export function unnamedControls(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(UNNAMED_CONTROLS)
}
