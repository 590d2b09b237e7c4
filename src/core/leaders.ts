/**
 * The leaders of registered machines, each held through a ProcessHandle
 * (a pidfd), as newer systemd holds machine->leader as a PidRef: whether a
 * leader lives, and signals to it, go to that very process, never to one
 * that got its PID later; and its exit queues the machine for garbage
 * collection (machine_start() adds an event source on the leader's pidfd).
 * A machine without a handle (.host) falls back to the PID and start time.
 *
 * The handle is kept on the Machine itself (Machine.leaderHandle, set and
 * cleared here only), and one exit callback serves every machine: with
 * 10,000 machines a Map entry and a closure each added up.
 * @module
 */

import type { Machine } from './machine.ts'
import type { ProcessHandle, Processes } from './ports.ts'

export class Leaders {
  readonly #processes: Processes
  readonly #onExit: (machine: Machine) => void

  /** `onExit` runs once a held leader has exited, with its machine. */
  constructor(processes: Processes, onExit: (machine: Machine) => void) {
    this.#processes = processes
    this.#onExit = onExit
  }

  /** Takes over `handle` for `machine`; the exit callback runs once the leader has exited. */
  hold(machine: Machine, handle: ProcessHandle): void {
    this.release(machine)
    handle.onExit(this.#onExit, machine)
    machine.leaderHandle = handle
  }

  /** Lets go of the machine's pidfd (the machine is gone); its exit is not announced any more. */
  release(machine: Machine): void {
    const handle = machine.leaderHandle
    if (handle === undefined) return
    machine.leaderHandle = undefined
    handle.dispose()
  }

  async isAlive(machine: Machine): Promise<boolean> {
    const handle = machine.leaderHandle
    return handle === undefined ? this.#processes.isAlive(machine.leader) : handle.isAlive()
  }

  /** pidfd_send_signal() to the leader; NoSuchProcessError once it has exited. */
  async signal(machine: Machine, signal: number): Promise<void> {
    const handle = machine.leaderHandle
    if (handle === undefined) return this.#processes.signal(machine.leader, signal)
    return handle.signal(signal)
  }
}
