/**
 * Who is calling: the bus driver's GetConnectionCredentials for the
 * sender's unique name (the kernel's SO_PEERCRED as dbus-daemon saw it),
 * cached until that connection goes away.
 * @module
 */

import type { Caller } from '../../core/authorization.ts'
import { FailedError } from '../../protocol/errors.ts'
import type { BusConnection } from '../../wire/dbus/bus.ts'

/** Cap on cached senders; the oldest entry goes first. */
const MAX_CACHED = 4096

export class CredentialsCache {
  readonly #bus: BusConnection
  readonly #cache = new Map<string, Promise<Caller>>()

  constructor(bus: BusConnection) {
    this.#bus = bus
    bus.onNameLost((name) => { this.#cache.delete(name) })
  }

  /**
   * Asks the bus about a sender not seen before, without waiting: called
   * at each incoming call, so that a client whose first call is a read
   * (machined-spawn's GetMachine, made long before its CreateMachine) finds
   * its credentials ready when a privileged call needs them, rather than
   * waiting a bus round trip then. One driver call per connection.
   */
  prefetch(sender: string): void {
    if (!this.#cache.has(sender)) this.callerOf(sender).catch(() => undefined)
  }

  callerOf(sender: string): Promise<Caller> {
    let pending = this.#cache.get(sender)
    if (pending === undefined) {
      pending = this.#fetch(sender)
      pending.catch(() => this.#cache.delete(sender))
      if (this.#cache.size >= MAX_CACHED) {
        const oldest = this.#cache.keys().next().value
        if (oldest !== undefined) this.#cache.delete(oldest)
      }
      this.#cache.set(sender, pending)
    }
    return pending
  }

  async #fetch(sender: string): Promise<Caller> {
    let reply: unknown[]
    try {
      reply = await this.#bus.callDriver('GetConnectionCredentials', 's', [sender])
    } catch (err) {
      throw new FailedError(`Failed to get credentials of ${sender}`, { cause: err })
    }
    const dict = (reply[0] ?? {}) as Record<string, { value: unknown } | undefined>
    const uid = dict.UnixUserID?.value
    const pid = dict.ProcessID?.value
    if (typeof uid !== 'number') throw new FailedError(`The bus did not tell the UID of ${sender}`)
    return { uid, pid: typeof pid === 'number' ? pid : undefined }
  }
}
