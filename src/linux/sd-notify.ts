/**
 * Telling the service manager how we are (sd_notify(3)), for the daemon
 * under systemd's Type=notify and for any launcher run from a unit: one
 * datagram per message to $NOTIFY_SOCKET (an absolute path, or `@name` for
 * an abstract socket, as sd_notify() takes it), `READY=1`, `STOPPING=1`,
 * `STATUS=…`, and `WATCHDOG=1` every half of $WATCHDOG_USEC when the
 * manager asked for it (sd_watchdog_enabled(3): $WATCHDOG_PID, when set,
 * must be ours).
 *
 * The variables are taken out of our environment at once, as
 * sd_notify(unset_environment=1) does, so no child (the embedded bus, the
 * helper programs, a container) talks to our manager in our name. Without
 * $NOTIFY_SOCKET every call does nothing: a daemon run by hand or by
 * another init is not told apart anywhere else.
 * @module
 */

import { unixSendDatagram } from '../native/service.ts'

/** What sd_notify(3) is told; values must not contain a newline. */
export type NotifyFields = Readonly<Record<string, string>>

/** $NOTIFY_SOCKET as a socket address: an absolute path, or a leading NUL for `@abstract`; undefined for anything else. */
export function notifyAddress(value: string | undefined): Buffer | undefined {
  if (value === undefined || value.length < 2) return undefined
  if (value.startsWith('/')) return Buffer.from(value)
  if (value.startsWith('@')) return Buffer.concat([Buffer.from([0]), Buffer.from(value.slice(1))])
  // systemd ≥ 254 also takes vsock:CID:PORT, used only by VM guests: not ours to serve.
  return undefined
}

/** "KEY=VALUE\n…" for sd_notify; a newline inside a value would start a field of its own, so it becomes a space. */
export function formatNotify(fields: NotifyFields): string {
  return Object.entries(fields).map(([k, v]) => `${k}=${v.replace(/[\r\n]/g, ' ')}\n`).join('')
}

/** The watchdog interval the manager asked for, in µs: undefined when none, or when it is meant for another process. */
export function watchdogUsec(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = /^\d+$/.test(env.WATCHDOG_USEC ?? '') ? Number(env.WATCHDOG_USEC) : 0
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== String(pid)) return undefined
  return usec
}

export interface NotifierOptions {
  /** The environment to read and then clear (default: process.env). */
  readonly env?: NodeJS.ProcessEnv
  /** Where a failed send is said; sd_notify failures never stop the daemon. */
  readonly onError?: (err: Error) => void
}

export class ServiceNotifier {
  readonly #address: Buffer | undefined
  readonly #watchdogUsec: number | undefined
  readonly #onError: (err: Error) => void
  #watchdog: NodeJS.Timeout | undefined

  private constructor(address: Buffer | undefined, watchdog: number | undefined, onError: (err: Error) => void) {
    this.#address = address
    this.#watchdogUsec = watchdog
    this.#onError = onError
  }

  /** Reads $NOTIFY_SOCKET and $WATCHDOG_USEC/$WATCHDOG_PID, and removes them from the environment. */
  static fromEnvironment(options: NotifierOptions = {}): ServiceNotifier {
    const env = options.env ?? process.env
    const notifier = new ServiceNotifier(notifyAddress(env.NOTIFY_SOCKET), watchdogUsec(env, process.pid), options.onError ?? (() => undefined))
    delete env.NOTIFY_SOCKET
    delete env.WATCHDOG_USEC
    delete env.WATCHDOG_PID
    return notifier
  }

  /** Whether a service manager listens (there is a $NOTIFY_SOCKET). */
  get enabled(): boolean {
    return this.#address !== undefined
  }

  /** The watchdog interval asked for, in µs (undefined: none). */
  get watchdogUsec(): number | undefined {
    return this.#watchdogUsec
  }

  /** Sends the fields as one datagram; returns whether it went. */
  notify(fields: NotifyFields): boolean {
    if (this.#address === undefined) return false
    try {
      unixSendDatagram(this.#address, Buffer.from(formatNotify(fields)))
      return true
    } catch (err) {
      this.#onError(err as Error)
      return false
    }
  }

  /**
   * Sends WATCHDOG=1 every half interval (as sd_watchdog_enabled(3)
   * advises) until disposed. The timer keeps no process alive by itself.
   */
  startWatchdog(): void {
    if (this.#watchdogUsec === undefined || this.#address === undefined || this.#watchdog !== undefined) return
    const everyMs = Math.max(1, Math.floor(this.#watchdogUsec / 2000))
    this.#watchdog = setInterval(() => this.notify({ WATCHDOG: '1' }), everyMs)
    this.#watchdog.unref()
  }

  dispose(): void {
    if (this.#watchdog !== undefined) clearInterval(this.#watchdog)
    this.#watchdog = undefined
  }
}
