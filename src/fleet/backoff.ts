/**
 * Retrying against etcd without a thundering herd, and saying so without
 * flooding the log. The delay is "decorrelated jitter" (each wait drawn
 * between the base and three times the previous one, capped): a hundred
 * hosts that lost etcd at the same instant come back spread over the cap
 * instead of all at once. The log says the first failure, then at most
 * one line per `quietMs`, then the recovery.
 * @module
 */

/** The slice of a logger the fleet code uses (machined's logfmt log fits). */
export interface FleetLog {
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

export interface BackoffOptions {
  readonly baseMs?: number
  readonly capMs?: number
  readonly random?: () => number
}

export class Backoff {
  readonly #base: number
  readonly #cap: number
  readonly #random: () => number
  #last: number

  constructor(options: BackoffOptions = {}) {
    this.#base = options.baseMs ?? 100
    this.#cap = options.capMs ?? 2000
    this.#random = options.random ?? Math.random
    this.#last = this.#base
  }

  /** The next wait, in ms. */
  next(): number {
    const upper = Math.min(this.#cap, this.#last * 3)
    this.#last = Math.max(this.#base, Math.min(this.#cap, this.#base + this.#random() * (upper - this.#base)))
    return Math.round(this.#last)
  }

  reset(): void {
    this.#last = this.#base
  }
}

/** Logs an outage once, reminds at most every `quietMs`, and logs the end. */
export class OutageLog {
  readonly #log: FleetLog
  readonly #what: string
  readonly #quietMs: number
  readonly #now: () => number
  #since: number | undefined
  #lastLine = 0
  #failures = 0

  constructor(log: FleetLog, what: string, options: { quietMs?: number; now?: () => number } = {}) {
    this.#log = log
    this.#what = what
    this.#quietMs = options.quietMs ?? 30_000
    this.#now = options.now ?? Date.now
  }

  get down(): boolean {
    return this.#since !== undefined
  }

  failed(err: unknown, fields: Record<string, unknown> = {}): void {
    const now = this.#now()
    this.#failures++
    // grpc-js words some failures over several lines.
    const error = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ').trim()
    if (this.#since === undefined) {
      this.#since = now
      this.#lastLine = now
      this.#log.warn(`${this.#what} failed; retrying with backoff`, { ...fields, error })
    } else if (now - this.#lastLine >= this.#quietMs) {
      this.#lastLine = now
      this.#log.warn(`${this.#what} still failing; retrying with backoff`, { ...fields, error, failures: this.#failures, seconds: Math.round((now - this.#since) / 1000) })
    } else {
      this.#log.debug(`${this.#what} failed`, { ...fields, error })
    }
  }

  recovered(fields: Record<string, unknown> = {}): void {
    if (this.#since === undefined) return
    const seconds = ((this.#now() - this.#since) / 1000).toFixed(1)
    this.#log.info(`${this.#what} works again`, { ...fields, seconds, failures: this.#failures })
    this.#since = undefined
    this.#failures = 0
  }
}
