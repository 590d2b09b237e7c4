/**
 * /machines/NAME: `mctl status`'s facts, the unit's process tree, live
 * CPU and memory charts, the actions (each confirmed first) and the
 * terminal. The facts are re-read every few seconds while the page is
 * open (one machine, not the list); the charts follow the event stream.
 * @module
 */

import type { ApiError, MachineAction, MachineStatus, ProcessTreeNode, TerminalMode } from '../api-types.ts'
import { Chart } from './chart.ts'
import { el } from './dom.ts'
import { formatBytes, formatPercent, formatSince, formatTimestamp } from './format.ts'
import type { MachineStore } from './store.ts'
import { TerminalView } from './terminal-view.ts'

const REFRESH_MS = 5000

const ACTIONS: readonly { action: MachineAction; label: string; question: string }[] = [
  { action: 'poweroff', label: 'Power off', question: 'Power off' },
  { action: 'reboot', label: 'Reboot', question: 'Reboot' },
  { action: 'terminate', label: 'Terminate', question: 'Terminate (stop at once)' },
  { action: 'kill', label: 'Send signal', question: 'Send the chosen signal to every process of' },
]

const SIGNALS: readonly [number, string][] = [[15, 'SIGTERM'], [9, 'SIGKILL'], [1, 'SIGHUP'], [2, 'SIGINT'], [10, 'SIGUSR1'], [12, 'SIGUSR2'], [19, 'SIGSTOP'], [18, 'SIGCONT']]

/** The tree as `mctl status` draws it below "Unit:". */
function treeText(n: ProcessTreeNode, prefix = ''): string {
  let out = ''
  const items = [...n.processes.map((p) => ({ text: `${p.pid} ${p.command}`, child: undefined })), ...n.children.map((c) => ({ text: c.cgroup.slice(c.cgroup.lastIndexOf('/') + 1), child: c }))]
  items.forEach((item, i) => {
    const last = i === items.length - 1
    out += `${prefix}${last ? '└─' : '├─'}${item.text}\n`
    if (item.child !== undefined) out += treeText(item.child, prefix + (last ? '  ' : '│ '))
  })
  return out
}

function fact(label: string, value: string): HTMLElement[] {
  return value === '' ? [] : [el('dt', {}, label), el('dd', {}, value)]
}

export class MachineView {
  readonly element: HTMLElement
  readonly #name: string
  readonly #host: string
  readonly #store: MachineStore
  readonly #facts: HTMLElement
  readonly #tree: HTMLPreElement
  readonly #message: HTMLElement
  readonly #terminalSlot: HTMLElement
  readonly #cpu = new Chart({ width: 420, height: 140, label: 'CPU, last 60 s', colour: '#2f7ed8', floor: 1, axes: { format: (v) => formatPercent(v) } })
  readonly #memory = new Chart({ width: 420, height: 140, label: 'Memory, last 60 s', colour: '#8e44ad', floor: 1 << 20, axes: { format: (v) => formatBytes(v) } })
  readonly #dialog: HTMLDialogElement
  readonly #unlisten: () => void
  readonly #timer: number
  #terminal: TerminalView | undefined
  #gone = false

  constructor(store: MachineStore, name: string, host: string) {
    this.#store = store
    this.#name = name
    this.#host = host
    this.#facts = el('dl', { class: 'facts' })
    this.#tree = el('pre', { class: 'tree', 'aria-label': `Processes of ${name}` })
    this.#message = el('p', { class: 'message', role: 'status' })
    this.#terminalSlot = el('div', { class: 'terminal-slot' })
    this.#dialog = el('dialog', { 'aria-label': 'Confirm' })
    const signal = el('select', { 'aria-label': 'Signal to send' }, ...SIGNALS.map(([n, s]) => el('option', { value: String(n) }, s)))
    const actionButtons = ACTIONS.map((a) => {
      const b = el('button', { type: 'button', 'data-action': a.action, 'aria-label': `${a.label} ${name}` }, a.label)
      b.addEventListener('click', () => this.#confirm(a.action, `${a.question} ${name}?`, a.action === 'kill' ? { signal: Number(signal.value) } : undefined))
      return b
    })
    const terminalButton = (mode: TerminalMode, label: string): HTMLButtonElement => {
      const b = el('button', { type: 'button', 'data-action': mode, 'aria-label': `${label} in ${name}` }, label)
      b.addEventListener('click', () => this.#openTerminal(mode))
      return b
    }
    this.element = el('main', { class: 'machine' },
      el('nav', {}, el('a', { href: '/' }, '← All machines')),
      el('h1', {}, name),
      this.#message,
      // A machine of another host of the fleet is managed, and its terminals opened, from that host's console.
      host === ''
        ? el('section', { class: 'actions', 'aria-label': 'Actions' }, ...actionButtons, signal, terminalButton('shell', 'Open shell'), terminalButton('login', 'Open login'))
        : el('p', { class: 'remote' }, `On host ${host}: actions and terminals are on that host's own console.`),
      this.#terminalSlot,
      el('div', { class: 'columns' },
        el('section', { 'aria-label': 'Status' }, el('h2', {}, 'Status'), this.#facts, el('h2', {}, 'Processes'), this.#tree),
        el('section', { 'aria-label': 'Resources' }, el('h2', {}, 'CPU'), this.#cpu.element, el('h2', {}, 'Memory'), this.#memory.element)),
      this.#dialog)
    this.#unlisten = store.listen({
      samples: () => this.#charts(),
      list: () => this.#charts(),
      removed: (h, n) => { if (h === host && n === name) this.#markGone() },
    })
    this.#timer = window.setInterval(() => void this.#refresh(), REFRESH_MS)
    void this.#refresh()
  }

  #url(suffix = ''): string {
    return `/api/machines/${encodeURIComponent(this.#name)}${suffix}${this.#host === '' ? '' : `?host=${encodeURIComponent(this.#host)}`}`
  }

  async #refresh(): Promise<void> {
    if (this.#gone) return
    const r = await fetch(this.#url())
    if (!r.ok) {
      const e = (await r.json()) as ApiError
      if (e.code === 'NO_SUCH_MACHINE') this.#markGone()
      else this.#message.textContent = `${e.error}: ${e.message}`
      return
    }
    this.#show((await r.json()) as MachineStatus)
  }

  #show(s: MachineStatus): void {
    const leader = s.leader > 0 ? `${s.leader}${s.leaderCommand === '' ? '' : ` (${s.leaderCommand})`}` : ''
    this.#facts.replaceChildren(
      ...fact('Host', s.host),
      ...fact('ID', s.id),
      ...fact('Since', s.since > 0 ? `${formatTimestamp(s.since)}; ${formatSince(s.since)}` : ''),
      ...fact('Leader', leader),
      ...fact('Service', s.service === '' ? '' : `${s.service}; class ${s.class}`),
      ...fact('Class', s.service === '' ? s.class : ''),
      ...fact('State', s.state),
      ...fact('Root', s.rootDirectory),
      ...fact('Iface', s.interfaces.join(' ')),
      ...fact('Address', s.addresses.join(' ')),
      ...fact('OS', s.os),
      ...fact('UID Shift', s.uidShift === null || s.uidShift === 0 ? '' : String(s.uidShift)),
      ...fact('Guest ID', s.guestId),
      ...fact('Unit', s.unit),
      ...fact('Tasks', s.sample?.tasks === null || s.sample === null ? '' : String(s.sample.tasks)),
    )
    this.#tree.textContent = s.tree === null ? '' : `${s.tree.cgroup.slice(s.tree.cgroup.lastIndexOf('/') + 1)}\n${treeText(s.tree)}`
  }

  #charts(): void {
    const e = this.#store.get(this.#host, this.#name)
    if (e === undefined) return
    this.#cpu.setData(e.t, e.cpu)
    this.#memory.setData(e.t, e.memory)
  }

  #markGone(): void {
    this.#gone = true
    this.#message.textContent = `${this.#name} is gone: it is no longer registered.`
    for (const b of this.element.querySelectorAll<HTMLButtonElement>('.actions button')) b.disabled = true
  }

  #confirm(action: MachineAction, question: string, body: Record<string, unknown> | undefined): void {
    const yes = el('button', { type: 'button', 'data-confirm': action, class: 'danger' }, 'Yes')
    const no = el('button', { type: 'button', 'data-cancel': '' }, 'Cancel')
    this.#dialog.replaceChildren(el('p', {}, question), el('div', { class: 'buttons' }, yes, no))
    no.addEventListener('click', () => this.#dialog.close())
    yes.addEventListener('click', () => { this.#dialog.close(); void this.#act(action, body) })
    this.#dialog.showModal()
    no.focus()
  }

  async #act(action: MachineAction, body: Record<string, unknown> | undefined): Promise<void> {
    const r = await fetch(this.#url(`/${action}`), {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    if (r.ok) { this.#message.textContent = `${action} sent to ${this.#name}.`; return }
    const e = (await r.json()) as ApiError
    this.#message.textContent = `${action} failed: ${e.error}: ${e.message}`
  }

  #openTerminal(mode: TerminalMode): void {
    this.#terminal?.close()
    this.#terminal = new TerminalView(this.#terminalSlot, this.#name, mode, this.#host, () => { this.#terminal = undefined })
  }

  destroy(): void {
    this.#unlisten()
    window.clearInterval(this.#timer)
    this.#terminal?.close()
    this.#cpu.destroy()
    this.#memory.destroy()
  }
}
