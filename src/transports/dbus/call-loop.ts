/**
 * How a D-Bus service of ours answers each call: at most so many calls in
 * flight per sender (the next is LimitsExceeded at once, without being
 * looked at), the object tree's answer or its error (mapped in one place),
 * and an unexpected failure logged. Both services share it:
 * org.freedesktop.machine1 (server.ts) and org.freedesktop.import1
 * (import1-server.ts).
 * @module
 */

import type { Log } from '../../core/ports.ts'
import { LimitsExceededError } from '../../protocol/errors.ts'
import type { BusConnection, IncomingCall } from '../../wire/dbus/bus.ts'
import { toWireError } from './errors.ts'
import type { Reply } from './object-tree.ts'

export class CallLoop {
  readonly #bus: BusConnection
  readonly #log: Log
  readonly #maxPending: number
  readonly #dispatch: (call: IncomingCall) => Promise<Reply>
  readonly #pending = new Map<string, number>()

  constructor(options: { bus: BusConnection; log: Log; maxPendingPerSender: number; dispatch: (call: IncomingCall) => Promise<Reply> }) {
    this.#bus = options.bus
    this.#log = options.log
    this.#maxPending = options.maxPendingPerSender
    this.#dispatch = options.dispatch
  }

  answer(call: IncomingCall): void {
    const inFlight = this.#pending.get(call.sender) ?? 0
    if (inFlight >= this.#maxPending) {
      const err = new LimitsExceededError(`Too many calls in flight from ${call.sender} (limit ${this.#maxPending})`)
      this.#bus.replyError(call, toWireError(err).name, err.message)
      return
    }
    this.#pending.set(call.sender, inFlight + 1)
    // One reaction for both outcomes rather than .then().catch().finally(): every call goes through here,
    // and each link of such a chain is a promise and a microtask more.
    this.#dispatch(call).then(
      (reply) => this.#settle(call, () => this.#bus.reply(call, reply.signature, reply.body)),
      (err: unknown) => this.#settle(call, () => {
        const wire = toWireError(err)
        if (wire.unexpected) this.#log.error('Method call failed', { member: call.member, path: call.path, error: String((err as Error)?.stack ?? err) })
        this.#bus.replyError(call, wire.name, wire.message)
      }),
    )
  }

  /** Sends the answer (a failure to is logged), then frees the call's place among its sender's calls in flight. */
  #settle(call: IncomingCall, send: () => void): void {
    try {
      send()
    } catch (err) {
      this.#log.error('Failed to send reply', { member: call.member, error: String(err) })
    } finally {
      const n = (this.#pending.get(call.sender) ?? 1) - 1
      if (n <= 0) this.#pending.delete(call.sender)
      else this.#pending.set(call.sender, n)
    }
  }
}
