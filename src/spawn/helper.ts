/**
 * The helper program (native/spawn_helper/) as Node sees it: it
 * is given the plan, reports the container's host PID, waits for "go",
 * passes on sd_notify messages and finally the container's exit status.
 * It runs in a session of its own, so terminal signals meant for us never
 * reach it or the container.
 * @module
 */

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { createInterface } from 'node:readline'
import { SPAWN_HELPER_PROGRAM } from '../native/addon.ts'

export type ExitStatus =
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'killed'; readonly signal: number }
  /** The helper went away without telling (killed from outside). */
  | { readonly kind: 'lost' }

export interface HelperStdio {
  /** The pty slave, for /dev/console. */
  readonly console?: number
  /** console=pipe: our own stdin/stdout/stderr go to the payload as they are. */
  readonly pipe?: boolean
}

/** "READY=1\nSTATUS=…" → fields (later ones win). */
export function parseNotify(text: string): Map<string, string> {
  const fields = new Map<string, string>()
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=')
    if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1))
  }
  return fields
}

/** Undoes the helper's escaping of a datagram (\n, \\ and \0). */
export function unescapeNotify(s: string): string {
  return s.replace(/\\(n|0|\\)/g, (_m, c: string) => (c === 'n' ? '\n' : c === '0' ? '\0' : '\\'))
}

export class Helper {
  readonly #child: ChildProcess
  readonly pid: Promise<number>
  /** True once PID 1 has made its mounts and nodes and waits for go(); false when the helper's output ended first. */
  readonly waiting: Promise<boolean>
  /** Resolves once the payload runs; rejects with the failed step's message. */
  readonly running: Promise<void>
  readonly exited: Promise<ExitStatus>
  #onNotify: (fields: Map<string, string>) => void = () => undefined
  #errors: string[] = []

  private constructor(child: ChildProcess) {
    this.#child = child
    let resolvePid!: (pid: number) => void
    let resolveWaiting!: (waiting: boolean) => void
    let resolveRunning!: () => void
    let rejectRunning!: (e: Error) => void
    let resolveExit!: (s: ExitStatus) => void
    this.pid = new Promise((resolve) => { resolvePid = resolve })
    this.waiting = new Promise((resolve) => { resolveWaiting = resolve })
    this.running = new Promise((resolve, reject) => { resolveRunning = resolve; rejectRunning = reject })
    this.running.catch(() => undefined) // read by whoever waits for it; never an unhandled rejection
    this.exited = new Promise((resolve) => { resolveExit = resolve })
    let status: ExitStatus = { kind: 'lost' }
    let pidSeen = false
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      const sp = line.indexOf(' ')
      const word = sp < 0 ? line : line.slice(0, sp)
      const rest = sp < 0 ? '' : line.slice(sp + 1)
      if (word === 'pid') { pidSeen = true; resolvePid(Number(rest)) }
      else if (word === 'waiting') resolveWaiting(true)
      else if (word === 'running') resolveRunning()
      else if (word === 'error') { this.#errors.push(rest); rejectRunning(new Error(rest)) }
      else if (word === 'notify') this.#onNotify(parseNotify(unescapeNotify(rest)))
      else if (word === 'exit') {
        const [how, n] = rest.split(' ')
        status = how === 'code' ? { kind: 'exited', code: Number(n) } : { kind: 'killed', signal: Number(n) }
      }
    })
    lines.on('close', () => {
      if (!pidSeen) resolvePid(0)
      resolveWaiting(false)
      rejectRunning(new Error(this.#errors[0] ?? 'The container exited before it started'))
      child.once('exit', () => resolveExit(status))
      if (child.exitCode !== null || child.signalCode !== null) resolveExit(status)
    })
  }

  /** Starts the helper with the encoded plan. */
  static start(plan: string, stdio: HelperStdio = {}): Helper {
    const fds: StdioOptions = ['pipe', 'pipe', 'inherit']
    fds.push(stdio.console ?? 'ignore')
    if (stdio.pipe === true) fds.push(0, 1, 2)
    const child = spawn(SPAWN_HELPER_PROGRAM, [], { stdio: fds, detached: true })
    child.on('error', () => undefined) // reported as a lost helper through 'close'
    child.stdin!.on('error', () => undefined) // the helper may be gone already
    child.stdin!.write(plan)
    return new Helper(child)
  }

  /** Messages from the container's PID 1 on /run/host/notify. */
  onNotify(callback: (fields: Map<string, string>) => void): void {
    this.#onNotify = callback
  }

  /** The container sits in its cgroup now: let it enter its cgroup namespace and exec. */
  go(): void {
    this.#child.stdin!.write('go\n')
  }

  /** Registration failed: the helper kills the container. */
  abort(): void {
    this.#child.stdin!.end('abort\n')
  }

  /** The first error the helper reported, if any. */
  get error(): string | undefined {
    return this.#errors[0]
  }
}
