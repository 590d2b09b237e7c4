/**
 * A terminal session on a machine's pty master (from OpenMachineShell or
 * OpenMachineLogin): output is read when the epoll set says the master is
 * readable (one read per wake-up, so a blocking fd never blocks the loop,
 * and no thread-pool thread waits on a terminal), input is written in
 * order through the thread pool, and close() closes the master, whose
 * hangup (SIGHUP to the session) ends what runs on it.
 *
 * A login's getty hangs the terminal up (vhangup()) before it prompts,
 * which makes the master read EIO for a moment: a login session rides
 * that out, as machinectl's PTY_FORWARD_IGNORE_VHANGUP does, and ends
 * only when closed (the tab goes, or the machine does). A shell session
 * ends at its first hangup.
 * @module
 */

import { closeSync, readSync, write } from 'node:fs'
import type { TerminalMode } from './api-types.ts'
import { pollSetOpen, ptySetWindowSize, type NativePollSet } from './native.ts'
import type { TerminalSession } from './source.ts'

const HANGUP_RETRY_MS = 50
/** Input not yet written before more is refused (a paste larger than this is cut). */
const MAX_PENDING_INPUT = 1 << 20
const READ_SIZE = 16384

/** One epoll set for every pty master of the process (opened with the first). */
export class PtyPoller {
  readonly #callbacks = new Map<number, () => void>()
  #set: NativePollSet | undefined
  #next = 0

  watch(fd: number, callback: () => void): number {
    this.#set ??= pollSetOpen((tokens) => { for (const t of tokens) this.#callbacks.get(t)?.() })
    const token = (this.#next = (this.#next + 1) >>> 0 || 1)
    this.#set.add(fd, token, false)
    this.#callbacks.set(token, callback)
    return token
  }

  unwatch(token: number, fd: number): void {
    if (!this.#callbacks.delete(token)) return
    this.#set?.remove(fd)
  }

  close(): void {
    this.#callbacks.clear()
    this.#set?.close()
    this.#set = undefined
  }
}

export class PtySession implements TerminalSession {
  readonly #fd: number
  readonly #mode: TerminalMode
  readonly #poller: PtyPoller
  readonly #buffer = Buffer.alloc(READ_SIZE)
  readonly #pending: Buffer[] = []
  #pendingBytes = 0
  #writing = false
  #token: number | undefined
  #listener: ((data: Buffer | null) => void) | undefined
  #early: Buffer[] = []
  #closed = false
  #retry: NodeJS.Timeout | undefined
  readonly ended: Promise<void>
  #ended!: () => void

  constructor(fd: number, mode: TerminalMode, poller: PtyPoller) {
    this.ended = new Promise((resolve) => { this.#ended = resolve })
    this.#fd = fd
    this.#mode = mode
    this.#poller = poller
    this.#watch()
  }

  #watch(): void {
    this.#token = this.#poller.watch(this.#fd, () => this.#readable())
  }

  #unwatch(): void {
    if (this.#token !== undefined) this.#poller.unwatch(this.#token, this.#fd)
    this.#token = undefined
  }

  #readable(): void {
    let n: number
    try {
      n = readSync(this.#fd, this.#buffer, 0, this.#buffer.length, null)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EAGAIN') return
      if (code === 'EIO' && this.#mode === 'login') {
        // Nobody has the terminal open this moment: look again shortly.
        this.#unwatch()
        this.#retry = setTimeout(() => { this.#retry = undefined; if (!this.#closed) this.#watch() }, HANGUP_RETRY_MS)
        return
      }
      this.close()
      return
    }
    if (n === 0) { this.close(); return }
    this.#deliver(Buffer.from(this.#buffer.subarray(0, n)))
  }

  #deliver(data: Buffer | null): void {
    if (this.#listener !== undefined) this.#listener(data)
    else if (data !== null) this.#early.push(data)
  }

  onData(listener: (data: Buffer | null) => void): void {
    this.#listener = listener
    for (const chunk of this.#early.splice(0)) listener(chunk)
    if (this.#closed) listener(null)
  }

  write(data: Buffer): void {
    if (this.#closed || this.#pendingBytes + data.length > MAX_PENDING_INPUT) return
    this.#pending.push(data)
    this.#pendingBytes += data.length
    if (!this.#writing) this.#flush()
  }

  #flush(): void {
    const head = this.#pending[0]
    if (head === undefined || this.#closed) {
      this.#writing = false
      if (this.#closed) this.#closeFd()
      return
    }
    this.#writing = true
    write(this.#fd, head, (err, written) => {
      if (err !== null) {
        if (err.code === 'EAGAIN') { setTimeout(() => this.#flush(), 10); return }
        this.#pending.length = 0
        this.#pendingBytes = 0
      } else {
        this.#pendingBytes -= written
        if (written < head.length) this.#pending[0] = head.subarray(written)
        else this.#pending.shift()
      }
      this.#flush()
    })
  }

  resize(columns: number, rows: number): void {
    if (this.#closed) return
    try {
      ptySetWindowSize(this.#fd, columns, rows)
    } catch {
      // The session is ending.
    }
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#retry !== undefined) clearTimeout(this.#retry)
    this.#unwatch()
    this.#pending.length = 0
    // A write still in flight holds the fd number: close it once that returns, never under it.
    if (!this.#writing) this.#closeFd()
    this.#deliver(null)
    this.#ended()
  }

  #closeFd(): void {
    try {
      closeSync(this.#fd)
    } catch {
      // Closed already.
    }
  }
}
