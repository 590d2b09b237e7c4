/**
 * The leaders of registered machines, each held through a ProcessHandle
 * (a pidfd), as newer systemd holds machine->leader as a PidRef: whether a
 * leader lives, and signals to it, go to that very process, never to one
 * that got its PID later; and its exit queues the machine for garbage
 * collection (machine_start() adds an event source on the leader's pidfd).
 * A machine without a handle (.host) falls back to the PID and start time.
 * @module
 */

import type { Machine } from './machine.ts'
import type { Disposable, ProcessHandle, Processes } from './ports.ts'

interface Held {
  readonly handle: ProcessHandle
  readonly exitWatch: Disposable
}

export class Leaders {
  readonly #processes: Processes
  readonly #held = new Map<Machine, Held>()

  constructor(processes: Processes) {
    this.#processes = processes
  }

  /** Takes over `handle` for `machine`; `onExit` runs once the leader has exited. */
  hold(machine: Machine, handle: ProcessHandle, onExit: () => void): void {
    this.release(machine)
    this.#held.set(machine, { handle, exitWatch: handle.onExit(onExit) })
  }

  /** Lets go of the machine's pidfd (the machine is gone). */
  release(machine: Machine): void {
    const held = this.#held.get(machine)
    if (held === undefined) return
    this.#held.delete(machine)
    held.exitWatch.dispose()
    held.handle.dispose()
  }

  async isAlive(machine: Machine): Promise<boolean> {
    const held = this.#held.get(machine)
    return held === undefined ? this.#processes.isAlive(machine.leader) : held.handle.isAlive()
  }

  /** pidfd_send_signal() to the leader; NoSuchProcessError once it has exited. */
  async signal(machine: Machine, signal: number): Promise<void> {
    const held = this.#held.get(machine)
    if (held === undefined) return this.#processes.signal(machine.leader, signal)
    return held.handle.signal(signal)
  }

  get size(): number {
    return this.#held.size
  }

  dispose(): void {
    for (const machine of [...this.#held.keys()]) this.release(machine)
  }
}
