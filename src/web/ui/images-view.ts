/**
 * The images page (/images): every image of this host's pool with its
 * disk usage (and its share of its quota, where it has one), the pool's
 * own usage, and the transfers under way with their progress. machined
 * sends no signal for images, so the page asks GET /api/images every few
 * seconds, and every second while a transfer runs.
 * @module
 */

import type { ApiError, ImageRow, ImagesPayload, TransferRow } from '../api-types.ts'
import { el } from './dom.ts'
import { formatBytes, formatTimestamp } from './format.ts'

const IDLE_MS = 5000
const BUSY_MS = 1000

function cell(text: string): HTMLTableCellElement {
  return el('td', {}, text === '' ? '–' : text)
}

/** A bar of `value` out of `max` with its text beside it; just the text where there is no max. */
function gauge(label: string, value: number | null, max: number | null, text: string): HTMLElement {
  if (value === null || max === null || max <= 0) return el('span', {}, text)
  const bar = el('progress', { 'aria-label': label, max: String(max), value: String(Math.min(value, max)) })
  return el('span', { class: 'gauge' }, bar, ` ${text}`)
}

function imageRow(i: ImageRow): HTMLTableRowElement {
  const usage = formatBytes(i.usage)
  const used = i.limit === null ? usage : `${usage} of ${formatBytes(i.limit)}`
  return el('tr', { 'data-image': i.name },
    el('th', { scope: 'row' }, i.name),
    cell(i.type),
    cell(i.readOnly ? 'yes' : 'no'),
    el('td', {}, gauge(`Usage of ${i.name} against its limit`, i.usage, i.limit, used)),
    cell(formatBytes(i.usageExclusive)),
    cell(i.modified > 0 ? formatTimestamp(i.modified) : ''),
    cell(i.path))
}

function transferRow(t: TransferRow): HTMLTableRowElement {
  const percent = t.progress === null ? 'unknown' : `${Math.floor(t.progress * 100)}%`
  return el('tr', { 'data-transfer': String(t.id) },
    el('th', { scope: 'row' }, String(t.id)),
    cell(t.type),
    cell(t.remote),
    cell(t.local),
    el('td', {}, t.progress === null
      ? el('span', {}, percent)
      : el('span', { class: 'gauge' }, el('progress', { 'aria-label': `Progress of transfer ${t.id}`, max: '100', value: String(Math.floor(t.progress * 100)) }), ` ${percent}`)))
}

function table(label: string, headings: readonly string[], rows: HTMLTableRowElement[]): HTMLTableElement {
  return el('table', { class: 'images', 'aria-label': label },
    el('thead', {}, el('tr', {}, ...headings.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, ...rows))
}

export class ImagesView {
  readonly element: HTMLElement
  readonly #status: HTMLElement
  readonly #pool: HTMLElement
  readonly #images: HTMLElement
  readonly #transfers: HTMLElement
  #timer = 0
  #closed = false

  constructor() {
    this.#status = el('p', { class: 'count', role: 'status' }, 'Loading…')
    this.#pool = el('p', { class: 'pool' })
    this.#images = el('section', { 'aria-label': 'Images' })
    this.#transfers = el('section', { 'aria-label': 'Transfers' })
    this.element = el('main', { class: 'images-page' },
      el('header', { class: 'bar' }, el('h1', {}, 'Images'), this.#status, el('a', { href: '/' }, 'Machines')),
      this.#pool, this.#images, el('h2', {}, 'Transfers'), this.#transfers)
    void this.#refresh()
  }

  async #refresh(): Promise<void> {
    let busy = false
    try {
      const r = await fetch('/api/images')
      if (r.status === 401) { this.#status.textContent = 'Logged out: reload to log in again.'; return }
      if (!r.ok) {
        const e = (await r.json()) as ApiError
        this.#status.textContent = `${e.error}: ${e.message}`
      } else {
        const p = (await r.json()) as ImagesPayload
        this.#show(p)
        busy = (p.transfers?.length ?? 0) > 0
      }
    } catch {
      this.#status.textContent = 'Cannot reach machined-web; retrying.'
    }
    if (!this.#closed) this.#timer = window.setTimeout(() => void this.#refresh(), busy ? BUSY_MS : IDLE_MS)
  }

  #show(p: ImagesPayload): void {
    this.#status.textContent = `${p.images.length} ${p.images.length === 1 ? 'image' : 'images'}`
    this.#pool.replaceChildren(p.pool === null ? '' : gauge('Usage of the pool against its limit', p.pool.usage, p.pool.limit,
      `Pool ${p.pool.path}: ${formatBytes(p.pool.usage)} used${p.pool.limit === null ? '' : ` of ${formatBytes(p.pool.limit)}`}`))
    this.#images.replaceChildren(table('Images', ['Name', 'Type', 'Read-only', 'Usage', 'Exclusive', 'Modified', 'Path'], p.images.map(imageRow)))
    this.#transfers.replaceChildren(p.transfers === null
      ? el('p', {}, 'This console cannot list transfers.')
      : p.transfers.length === 0
        ? el('p', {}, 'No transfers under way.')
        : table('Transfers', ['ID', 'Type', 'Remote', 'Local', 'Progress'], p.transfers.map(transferRow)))
  }

  destroy(): void {
    this.#closed = true
    window.clearTimeout(this.#timer)
  }
}
