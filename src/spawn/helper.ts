/**
 * The helper program (native/spawn_helper/) as Node sees it: it
 * is given the plan, reports the container's host PID, waits for "go",
 * passes on sd_notify messages and finally the container's exit status.
 * It runs in a session of its own, so terminal signals meant for us never
 * reach it or the container.
 * @module
 */

import { closeSync, openSync, writeSync } from 'node:fs'
import type { Socket } from 'node:net'
import { SPAWN_HELPER_PROGRAM } from '../native/addon.ts'
import { pidfdOpen, pidfdWatch } from '../native/pidfd.ts'
import { pipe, spawnProgram, waitPidfd } from '../native/spawn.ts'

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

/** The helper as started: its PID's pidfd, the write end of its stdin, the read end of its stdout. */
interface Started {
  readonly pidfd: number
  readonly stdin: number
  readonly stdout: number
}

/**
 * Started with the addon's posix_spawn() (src/native/spawn.ts), not
 * node:child_process: on the path from launch to the container's init,
 * loading child_process and readline and libuv's fork() of the whole Node
 * process cost about 9 ms. Its stdout is read as a node:net stream, its
 * stdin written with blocking writes (a plan of a few KB and short
 * commands, far below a pipe's 64 KB), and it is reaped through a pidfd.
 */
export class Helper {
  /** The write end of the helper's stdin; -1 once closed. */
  #stdin: number
  readonly pid: Promise<number>
  /** True once PID 1 has made its mounts and nodes and waits for go(); false when the helper's output ended first. */
  readonly waiting: Promise<boolean>
  /** Resolves once the payload runs; rejects with the failed step's message. */
  readonly running: Promise<void>
  readonly exited: Promise<ExitStatus>
  #onNotify: (fields: Map<string, string>) => void = () => undefined
  #errors: string[] = []

  private constructor(started: Started | Error) {
    this.#stdin = started instanceof Error ? -1 : started.stdin
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
    let outputEnded = false
    let reaped = false
    const onLine = (line: string): void => {
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
    }
    // Both ends come in either order: exited waits for the last of the helper's output and for its reaping.
    const onOutputEnd = (): void => {
      outputEnded = true
      if (!pidSeen) resolvePid(0)
      resolveWaiting(false)
      rejectRunning(new Error(this.#errors[0] ?? 'The container exited before it started'))
      if (reaped) resolveExit(status)
    }
    const onReaped = (): void => {
      reaped = true
      this.#closeStdin()
      if (outputEnded) resolveExit(status)
    }
    if (started instanceof Error) {
      this.#errors.push(`Failed to start the helper: ${started.message}`)
      onReaped()
      onOutputEnd()
      return
    }
    readLines(started.stdout, onLine, onOutputEnd)
    reapWhenExited(started.pidfd, onReaped)
  }

  /** Starts the helper with the encoded plan; a failure to start shows as a helper that reported no PID. */
  static start(plan: string, stdio: HelperStdio = {}): Helper {
    let started: Started
    try {
      started = spawnHelper(stdio)
    } catch (err) {
      return new Helper(err as Error)
    }
    const helper = new Helper(started)
    helper.#send(plan)
    return helper
  }

  /** Messages from the container's PID 1 on /run/host/notify. */
  onNotify(callback: (fields: Map<string, string>) => void): void {
    this.#onNotify = callback
  }

  /** The container sits in its cgroup now: let it enter its cgroup namespace and exec. */
  go(): void {
    this.#send('go\n')
  }

  /** Registration failed: the helper kills the container. */
  abort(): void {
    this.#send('abort\n')
    this.#closeStdin()
  }

  /** The first error the helper reported, if any. */
  get error(): string | undefined {
    return this.#errors[0]
  }

  /** Writes to the helper's stdin; a helper that is gone already (EPIPE) reports through its output and exit. */
  #send(text: string): void {
    if (this.#stdin < 0) return
    const data = Buffer.from(text)
    try {
      for (let off = 0; off < data.length;) off += writeSync(this.#stdin, data, off)
    } catch {
      // Gone: nothing to tell it any more.
    }
  }

  /** The helper reads end of file as "the manager is gone" and kills the container: only once it is over, or to abort. */
  #closeStdin(): void {
    if (this.#stdin < 0) return
    closeSync(this.#stdin)
    this.#stdin = -1
  }
}

/**
 * Runs the helper: fd 0 and 1 pipes to us, 2 our stderr, 3 the console's
 * pty slave (or /dev/null), and in pipe mode 4-6 our own stdin, stdout and
 * stderr for the payload; in a session of its own, so that our terminal's
 * signals never reach it or the container. Our ends of the pipes and its
 * pidfd are returned; everything else opened here is closed.
 */
function spawnHelper(stdio: HelperStdio): Started {
  const closeAfter: number[] = []
  let ours: number[] = []
  try {
    const [stdinRead, stdinWrite] = pipe()
    closeAfter.push(stdinRead)
    ours.push(stdinWrite)
    const [stdoutRead, stdoutWrite] = pipe()
    closeAfter.push(stdoutWrite)
    ours.push(stdoutRead)
    let console = stdio.console
    if (console === undefined) {
      console = openSync('/dev/null', 'r+') // close-on-exec, as libuv opens every file
      closeAfter.push(console)
    }
    const fds = [stdinRead, stdoutWrite, 2, console]
    if (stdio.pipe === true) fds.push(0, 1, 2)
    const pid = spawnProgram(SPAWN_HELPER_PROGRAM, { argv: [SPAWN_HELPER_PROGRAM], fds, newSession: true })
    // Our own child, not yet reaped: its PID cannot have been reused.
    const pidfd = pidfdOpen(pid)
    const started = { pidfd, stdin: stdinWrite, stdout: stdoutRead }
    ours = []
    return started
  } finally {
    for (const fd of [...closeAfter, ...ours]) closeSync(fd)
  }
}

/** Calls `onLine` for each line the helper writes, then `onEnd` once its output has ended (the stream owns `fd`). */
function readLines(fd: number, onLine: (line: string) => void, onEnd: () => void): void {
  // node:net through getBuiltinModule, as src/wire/unix-stream.ts does: loaded (with its streams) only when a helper runs.
  const stream: Socket = new (process.getBuiltinModule('node:net').Socket)({ fd, readable: true, writable: false })
  let pending = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n')
    pending = lines.pop()!
    for (const line of lines) onLine(line)
  })
  stream.on('error', () => undefined) // ends as 'close' too
  stream.once('close', () => {
    if (pending !== '') onLine(pending)
    pending = ''
    onEnd()
  })
}

/** Reaps the helper once it has exited (its pidfd readable), closes the pidfd, then calls `onReaped`. */
function reapWhenExited(pidfd: number, onReaped: () => void): void {
  // Keeps the event loop alive, as a ChildProcess did, until the helper is reaped.
  pidfdWatch(pidfd, () => {
    let end
    try {
      end = waitPidfd(pidfd)
    } catch {
      end = null // reaped already (ECHILD): nothing is left to wait for
    }
    if (end === undefined) {
      reapWhenExited(pidfd, onReaped) // readable before the exit: never expected, but never leave a zombie either
      return
    }
    closeSync(pidfd)
    onReaped()
  }, true)
}
