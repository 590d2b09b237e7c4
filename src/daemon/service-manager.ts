/**
 * The daemon and the service manager that runs it (systemd's Type=notify
 * and socket activation; nothing under other inits): what it passed us
 * (the Varlink socket of machined-ts.socket, from $LISTEN_FDS), and what
 * we tell it (sd_notify: READY=1 once both transports serve, STATUS=,
 * STOPPING=1, WATCHDOG=1 while the event loop runs).
 * @module
 */

import { closeSync } from 'node:fs'
import type { Log } from '../core/ports.ts'
import { takeListenFds, type ListenFd } from '../linux/listen-fds.ts'
import { ServiceNotifier } from '../linux/sd-notify.ts'
import { isListeningUnixStream } from '../native/service.ts'

/** FileDescriptorName= of the Varlink socket in machined-ts.socket. */
export const VARLINK_FD_NAME = 'io.systemd.Machine'

/**
 * The passed fd to serve Varlink on: the one named io.systemd.Machine, or
 * the only one when the unit named none. Every other fd is closed (with a
 * warning): nothing else is ours to serve.
 */
export function pickVarlinkFd(fds: readonly ListenFd[], log: Log): number | undefined {
  const named = fds.find((f) => f.name === VARLINK_FD_NAME)
  const chosen = named ?? (fds.length === 1 && fds[0]!.name === 'unknown' ? fds[0] : undefined)
  for (const f of fds) {
    if (f === chosen) continue
    log.warn('Closing a socket passed by the service manager that is not ours to serve', { fd: f.fd, name: f.name })
    try { closeSync(f.fd) } catch { /* already closed */ }
  }
  if (chosen === undefined) return undefined
  if (!isListeningUnixStream(chosen.fd)) throw new Error(`The socket passed as fd ${chosen.fd} (${chosen.name}) is not a listening Unix stream socket`)
  return chosen.fd
}

export class ServiceManagerLink {
  readonly #notifier: ServiceNotifier
  /** The Varlink socket passed by socket activation, if any. */
  readonly varlinkFd: number | undefined

  private constructor(notifier: ServiceNotifier, varlinkFd: number | undefined) {
    this.#notifier = notifier
    this.varlinkFd = varlinkFd
  }

  /** Takes what the manager passed in the environment (and clears it, so no child inherits it). */
  static fromEnvironment(log: Log, env: NodeJS.ProcessEnv = process.env): ServiceManagerLink {
    const notifier = ServiceNotifier.fromEnvironment({
      env, onError: (err) => log.warn('Failed to notify the service manager, ignoring', { error: err.message }),
    })
    const fds = takeListenFds(env)
    const varlinkFd = pickVarlinkFd(fds, log)
    if (varlinkFd !== undefined) log.info('Serving Varlink on the socket passed by the service manager', { fd: varlinkFd })
    return new ServiceManagerLink(notifier, varlinkFd)
  }

  /** Both transports serve: READY=1, with a status line, and the watchdog from now on. */
  ready(status: { machines: number; varlink: boolean }): void {
    const where = status.varlink ? 'D-Bus and Varlink' : 'D-Bus'
    this.#notifier.notify({ READY: '1', STATUS: `Serving ${status.machines} machines on ${where}` })
    this.#notifier.startWatchdog()
  }

  /** SIGTERM: STOPPING=1 before anything closes. */
  stopping(): void {
    this.#notifier.notify({ STOPPING: '1', STATUS: 'Stopping; machines stay registered on disk' })
    this.#notifier.dispose()
  }

  dispose(): void {
    this.#notifier.dispose()
  }
}
