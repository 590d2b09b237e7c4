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
import type { ProcessHandle, Processes } from './ports.ts'

export class Leaders {
  readonly #processes: Processes
  /** The handle alone per machine: disposing of it ends its exit watch too (ProcessHandle), so nothing else is kept. */
  readonly #held = new Map<Machine, ProcessHandle>()

  constructor(processes: Processes) {
    this.#processes = processes
  }

  /** Takes over `handle` for `machine`; `onExit` runs once the leader has exited. */
  hold(machine: Machine, handle: ProcessHandle, onExit: () => void): void {
    this.release(machine)
    handle.onExit(onExit)
    this.#held.set(machine, handle)
  }

  /** Lets go of the machine's pidfd (the machine is gone); its exit is not announced any more. */
  release(machine: Machine): void {
    const handle = this.#held.get(machine)
    if (handle === undefined) return
    this.#held.delete(machine)
    handle.dispose()
  }

  async isAlive(machine: Machine): Promise<boolean> {
    const handle = this.#held.get(machine)
    return handle === undefined ? this.#processes.isAlive(machine.leader) : handle.isAlive()
  }

  /** pidfd_send_signal() to the leader; NoSuchProcessError once it has exited. */
  async signal(machine: Machine, signal: number): Promise<void> {
    const handle = this.#held.get(machine)
    if (handle === undefined) return this.#processes.signal(machine.leader, signal)
    return handle.signal(signal)
  }

  get size(): number {
    return this.#held.size
  }

  dispose(): void {
    for (const machine of [...this.#held.keys()]) this.release(machine)
  }
}
