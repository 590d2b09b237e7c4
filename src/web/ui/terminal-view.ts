/**
 * A terminal into a machine: xterm.js over the console's WebSocket
 * (OpenMachineShell or OpenMachineLogin on the server). Keys go as typed
 * (Ctrl-C is a ^C to the machine, as in any terminal); copy and paste are
 * Ctrl+Shift+C / Ctrl+Shift+V or the toolbar's buttons; the terminal
 * follows its box's size and tells the machine. Closing it (or the tab)
 * closes the socket, which ends the session on the server.
 * @module
 */

import { FitAddon } from '@xterm/addon-fit'
import { Terminal, type ITheme } from '@xterm/xterm'
import type { TerminalMode, TerminalNotice } from '../api-types.ts'
import { el } from './dom.ts'

const LIGHT: ITheme = { background: '#ffffff', foreground: '#1d1f21', cursor: '#1d1f21', selectionBackground: '#b3d4fc' }
const DARK: ITheme = { background: '#16181d', foreground: '#e6e6e6', cursor: '#e6e6e6', selectionBackground: '#44516b' }

function dark(): MediaQueryList {
  return window.matchMedia('(prefers-color-scheme: dark)')
}

export class TerminalView {
  readonly element: HTMLElement
  readonly #term: Terminal
  readonly #fit = new FitAddon()
  readonly #socket: WebSocket
  readonly #status: HTMLElement
  readonly #observer: ResizeObserver
  readonly #onScheme = (): void => { this.#term.options.theme = dark().matches ? DARK : LIGHT }
  #closed = false

  /** Shows itself in `parent` (replacing what is there): xterm measures its font in the document. */
  constructor(parent: HTMLElement, name: string, mode: TerminalMode, host: string, onClose: () => void) {
    const screen = el('div', { class: 'screen' })
    this.#status = el('p', { class: 'terminal-status', role: 'status' }, 'Connecting…')
    const button = (action: string, label: string, f: () => void): HTMLButtonElement => {
      const b = el('button', { type: 'button', 'data-action': action }, label)
      b.addEventListener('click', f)
      return b
    }
    this.element = el('section', { class: 'terminal', 'aria-label': `${mode === 'shell' ? 'Shell' : 'Login'} in ${name}` },
      el('div', { class: 'toolbar' },
        button('copy', 'Copy selection', () => void this.copy()),
        button('paste', 'Paste', () => void this.paste()),
        button('close-terminal', 'Close terminal', () => { this.close(); onClose() }),
        this.#status),
      screen)
    parent.replaceChildren(this.element)
    this.#term = new Terminal({ cursorBlink: true, scrollback: 5000, fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace', fontSize: 14 })
    this.#onScheme()
    dark().addEventListener('change', this.#onScheme)
    this.#term.loadAddon(this.#fit)
    this.#term.open(screen)
    this.#term.textarea?.setAttribute('aria-label', `Terminal input for ${name}`)
    this.#term.attachCustomKeyEventHandler((e) => {
      if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey) return true
      if (e.code === 'KeyC') { e.preventDefault(); void this.copy(); return false }
      // The browser pastes on Ctrl+Shift+V by itself (a paste event xterm.js takes): only keep the key from the machine.
      if (e.code === 'KeyV') return false
      return true
    })
    this.#fit.fit()
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    const size = { columns: String(this.#term.cols), rows: String(this.#term.rows) }
    const query = new URLSearchParams({ mode, ...size, ...(host === '' ? {} : { host }) })
    this.#socket = new WebSocket(`${scheme}://${location.host}/api/machines/${encodeURIComponent(name)}/terminal?${query.toString()}`)
    this.#socket.binaryType = 'arraybuffer'
    const encoder = new TextEncoder()
    this.#socket.addEventListener('open', () => { this.#status.textContent = 'Connected'; this.#sendSize(); this.#term.focus() })
    this.#socket.addEventListener('message', (e: MessageEvent<ArrayBuffer | string>) => {
      if (typeof e.data === 'string') {
        const notice = JSON.parse(e.data) as TerminalNotice
        this.#status.textContent = notice.message
        return
      }
      this.#term.write(new Uint8Array(e.data))
    })
    this.#socket.addEventListener('close', () => {
      // A notice from the server (the session ended, an error) says more than this.
      if (this.#status.textContent === 'Connected' || this.#status.textContent === 'Connecting…') this.#status.textContent = 'Disconnected'
    })
    this.#term.onData((s) => this.#send(encoder.encode(s)))
    this.#term.onBinary((s) => this.#send(Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff)))
    this.#term.onResize(() => this.#sendSize())
    this.#observer = new ResizeObserver(() => { if (!this.#closed) this.#fit.fit() })
    this.#observer.observe(screen)
  }

  #send(bytes: Uint8Array<ArrayBuffer>): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(bytes)
  }

  #sendSize(): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify({ type: 'resize', columns: this.#term.cols, rows: this.#term.rows }))
  }

  async copy(): Promise<void> {
    const text = this.#term.getSelection()
    if (text !== '') await navigator.clipboard.writeText(text)
  }

  async paste(): Promise<void> {
    const text = await navigator.clipboard.readText()
    if (text !== '') this.#term.paste(text)
    this.#term.focus()
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#observer.disconnect()
    dark().removeEventListener('change', this.#onScheme)
    this.#socket.close()
    this.#term.dispose()
    this.element.remove()
  }
}
