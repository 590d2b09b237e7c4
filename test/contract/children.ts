/**
 * Real processes for the real ports' harnesses: `sleep`s this process
 * starts (ending on SIGTERM or SIGKILL, as a fake process started by the
 * harnesses does), ended and reaped on dispose.
 * @module
 */

import { spawn, type ChildProcess } from 'node:child_process'

export class Children {
  readonly #running = new Map<number, ChildProcess>()
  readonly #exits = new Map<number, Promise<void>>()

  /** Starts `sleep`, as `uid` when given (root only). */
  async start(options: { uid?: number } = {}): Promise<number> {
    const child = spawn('sleep', ['1000'], { stdio: 'ignore', ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }) })
    await new Promise<void>((resolve, reject) => { child.once('spawn', resolve); child.once('error', reject) })
    const pid = child.pid!
    this.#running.set(pid, child)
    this.#exits.set(pid, new Promise<void>((resolve) => child.once('exit', () => { this.#running.delete(pid); resolve() })))
    return pid
  }

  /** Resolves once the child has exited and been reaped. */
  async exited(pid: number): Promise<void> {
    await this.#exits.get(pid)
  }

  isRunning(pid: number): boolean {
    return this.#running.has(pid)
  }

  /** Ends the child from outside (SIGKILL) and waits until it is reaped. */
  async end(pid: number): Promise<void> {
    this.#running.get(pid)?.kill('SIGKILL')
    await this.exited(pid)
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.#running.keys()].map((pid) => this.end(pid)))
  }
}
