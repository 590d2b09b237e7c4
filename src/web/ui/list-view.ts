/**
 * The table of every machine, virtualised: only the rows in view (and a
 * few either side) exist as elements, recycled as the list scrolls, so
 * 1,000 machines cost what 30 do. Each shown row carries
 * data-machine="NAME" and is an ARIA row with its index in the whole list.
 * With machines of other hosts (the fleet), the list is grouped by host:
 * this host first, then the others by name, each under a heading row
 * carrying data-host="HOST" ('' for this host) and its machine count.
 * @module
 */

import { Chart } from './chart.ts'
import { el, machineHref, setText } from './dom.ts'
import { formatBytes, formatCount, formatPercent, formatSince } from './format.ts'
import type { Entry, MachineStore } from './store.ts'

const ROW_HEIGHT = 36
const OVERSCAN = 6
const SPARK = { width: 90, height: 26 }
const COLUMNS = ['Name', 'Class', 'Service', 'OS', 'Addresses', 'Leader', 'Unit', 'Since', 'CPU', 'CPU 60 s', 'Memory', 'Mem. 60 s', 'Tasks'] as const

/** A host's heading in a grouped list. */
interface Group {
  /** \u0001HOST: never a machine's key (HOST\u0000NAME), since a valid hostname has no control character. */
  readonly key: string
  readonly host: string
  readonly count: number
}

type Item = Entry | Group

const isGroup = (i: Item): i is Group => !('row' in i)

class GroupView {
  readonly element: HTMLDivElement
  readonly #heading: HTMLDivElement
  key: string | undefined

  constructor() {
    this.#heading = el('div', { role: 'rowheader', class: 'cell' })
    this.element = el('div', { role: 'row', class: 'row group' }, this.#heading)
  }

  bind(g: Group, index: number): void {
    this.key = g.key
    this.element.dataset.host = g.host
    this.element.hidden = false
    this.element.style.transform = `translateY(${index * ROW_HEIGHT}px)`
    this.element.setAttribute('aria-rowindex', String(index + 2))
    setText(this.#heading, `${g.host === '' ? 'This host' : g.host}: ${g.count} ${g.count === 1 ? 'machine' : 'machines'}`)
  }

  unbind(): void {
    this.key = undefined
    delete this.element.dataset.host
    this.element.hidden = true
  }
}

/** strcmp() order. */
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** Machines by host ('' first) then name, each host under its heading when more than this host is listed. */
function grouped(entries: Entry[]): Item[] {
  entries.sort((a, b) => compare(a.row.host, b.row.host) || compare(a.row.name, b.row.name))
  if (entries.every((e) => e.row.host === '')) return entries
  const items: Item[] = []
  for (let i = 0; i < entries.length;) {
    const host = entries[i]!.row.host
    let j = i
    while (j < entries.length && entries[j]!.row.host === host) j++
    items.push({ key: `\u0001${host}`, host, count: j - i }, ...entries.slice(i, j))
    i = j
  }
  return items
}

class RowView {
  readonly element: HTMLDivElement
  readonly #link: HTMLAnchorElement
  readonly #cells: HTMLDivElement[]
  readonly #cpuChart = new Chart({ ...SPARK, label: 'CPU history', colour: '#2f7ed8', floor: 1 })
  readonly #memoryChart = new Chart({ ...SPARK, label: 'Memory history', colour: '#8e44ad', floor: 1 << 20 })
  key: string | undefined

  constructor() {
    this.#link = el('a', { href: '#' })
    const cell = (...children: (Node | string)[]): HTMLDivElement => el('div', { role: 'cell', class: 'cell' }, ...children)
    this.#cells = COLUMNS.map(() => cell())
    this.#cells[0]!.appendChild(this.#link)
    this.#cells[9]!.appendChild(this.#cpuChart.element)
    this.#cells[11]!.appendChild(this.#memoryChart.element)
    this.element = el('div', { role: 'row', class: 'row' }, ...this.#cells)
  }

  bind(e: Entry, index: number, now: number): void {
    const r = e.row
    if (this.key !== e.key) {
      this.key = e.key
      this.element.dataset.machine = r.name
      this.#link.href = machineHref(r.name, r.host)
      this.#cpuChart.setLabel(`CPU of ${r.name}, last 60 s`)
      this.#memoryChart.setLabel(`Memory of ${r.name}, last 60 s`)
    }
    this.element.hidden = false
    this.element.style.transform = `translateY(${index * ROW_HEIGHT}px)`
    this.element.setAttribute('aria-rowindex', String(index + 2))
    setText(this.#link, r.name)
    const texts = [null, r.class, r.service, r.os, r.addresses.join(' '), r.leader > 0 ? String(r.leader) : '–', r.unit]
    texts.forEach((t, i) => { if (t !== null) setText(this.#cells[i]!, t === '' ? '–' : t) })
    this.updateFigures(e, now)
  }

  updateFigures(e: Entry, now: number): void {
    setText(this.#cells[7]!, formatSince(e.row.since, now))
    setText(this.#cells[8]!, formatPercent(e.latest?.cpu))
    setText(this.#cells[10]!, formatBytes(e.latest?.memory))
    setText(this.#cells[12]!, formatCount(e.latest?.tasks))
    this.#cpuChart.setData(e.t, e.cpu)
    this.#memoryChart.setData(e.t, e.memory)
  }

  unbind(): void {
    this.key = undefined
    delete this.element.dataset.machine
    this.element.hidden = true
  }
}

export class ListView {
  readonly element: HTMLElement
  readonly #store: MachineStore
  readonly #viewport: HTMLDivElement
  readonly #spacer: HTMLDivElement
  readonly #count: HTMLElement
  readonly #filter: HTMLInputElement
  readonly #table: HTMLDivElement
  readonly #pool: RowView[] = []
  readonly #groupPool: GroupView[] = []
  #sorted: Item[] = []
  #frame = 0
  readonly #unlisten: () => void

  constructor(store: MachineStore) {
    this.#store = store
    this.#count = el('p', { class: 'count', role: 'status' }, 'Loading…')
    this.#filter = el('input', { type: 'search', 'aria-label': 'Filter machines by name, service or OS', placeholder: 'Filter' })
    this.#filter.addEventListener('input', () => this.#relist())
    const header = el('div', { role: 'row', class: 'row header', 'aria-rowindex': '1' },
      ...COLUMNS.map((c) => el('div', { role: 'columnheader', class: 'cell' }, c)))
    this.#spacer = el('div', { class: 'spacer' })
    this.#viewport = el('div', { class: 'viewport', role: 'rowgroup' }, this.#spacer)
    this.#viewport.addEventListener('scroll', () => this.#schedule())
    this.#table = el('div', { class: 'table', role: 'table', 'aria-label': 'Machines', 'aria-rowcount': '1' }, el('div', { role: 'rowgroup' }, header), this.#viewport)
    this.element = el('main', { class: 'list' },
      el('header', { class: 'bar' }, el('h1', {}, 'Machines'), this.#count, this.#filter, el('a', { href: '/images' }, 'Images')), this.#table)
    window.addEventListener('resize', () => this.#schedule())
    this.#unlisten = store.listen({
      list: () => this.#relist(),
      samples: () => this.#refreshFigures(),
      connection: (state) => { if (state === 'unauthorized') this.#count.textContent = 'Logged out: reload to log in again.' },
    })
  }

  #relist(): void {
    const q = this.#filter.value.trim().toLowerCase()
    const all = [...this.#store.entries.values()]
    const shown = all.filter((e) => q === '' || `${e.row.name} ${e.row.service} ${e.row.os} ${e.row.host}`.toLowerCase().includes(q))
    this.#sorted = grouped(shown)
    const hosts = new Set(all.map((e) => e.row.host)).size
    this.#count.textContent = `${all.length} ${all.length === 1 ? 'machine' : 'machines'}${hosts > 1 ? ` on ${hosts} hosts` : ''}${shown.length === all.length ? '' : `, ${shown.length} shown`}`
    this.#table.setAttribute('aria-rowcount', String(this.#sorted.length + 1))
    this.#spacer.style.height = `${this.#sorted.length * ROW_HEIGHT}px`
    this.#render()
  }

  #schedule(): void {
    if (this.#frame !== 0) return
    this.#frame = requestAnimationFrame(() => { this.#frame = 0; this.#render() })
  }

  #render(): void {
    const height = this.#viewport.clientHeight || window.innerHeight
    // The browser clamps scrollTop to a shorter list only at its next frame.
    const top = Math.min(this.#viewport.scrollTop, Math.max(0, this.#sorted.length * ROW_HEIGHT - height))
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN)
    const last = Math.min(this.#sorted.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN)
    const wanted = new Map<string, number>()
    for (let i = first; i < last; i++) wanted.set(this.#sorted[i]!.key, i)
    // Rows already showing a wanted item keep it (their charts need no rebuild); the rest are free.
    const now = Date.now()
    const bind = (view: RowView | GroupView, i: number): void => {
      const item = this.#sorted[i]!
      if (view instanceof GroupView) view.bind(item as Group, i)
      else view.bind(item as Entry, i, now)
    }
    const keep = <V extends RowView | GroupView>(pool: V[]): V[] => {
      const free: V[] = []
      for (const view of pool) {
        const i = view.key === undefined ? undefined : wanted.get(view.key)
        if (i === undefined) { free.push(view); continue }
        bind(view, i)
        wanted.delete(view.key!)
      }
      return free
    }
    const free = keep(this.#pool)
    const freeGroups = keep(this.#groupPool)
    for (const [, i] of wanted) {
      if (isGroup(this.#sorted[i]!)) {
        let view = freeGroups.pop()
        if (view === undefined) { view = new GroupView(); this.#groupPool.push(view); this.#spacer.appendChild(view.element) }
        bind(view, i)
      } else {
        let view = free.pop()
        if (view === undefined) { view = new RowView(); this.#pool.push(view); this.#spacer.appendChild(view.element) }
        bind(view, i)
      }
    }
    for (const view of [...free, ...freeGroups]) view.unbind()
  }

  #refreshFigures(): void {
    for (const row of this.#pool) {
      if (row.key === undefined) continue
      const e = this.#store.entries.get(row.key)
      if (e !== undefined) row.updateFigures(e, Date.now())
    }
  }

  destroy(): void {
    this.#unlisten()
    if (this.#frame !== 0) cancelAnimationFrame(this.#frame)
  }
}
