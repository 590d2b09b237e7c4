/**
 * The typed view of the addon's calls for running as a service
 * (native/addon/service.c): an sd_notify(3) datagram, and the checks
 * socket activation needs on inherited fds. Used by src/linux/sd-notify.ts
 * and src/linux/listen-fds.ts.
 * @module
 */

import { loadAddon } from './addon.ts'

interface Addon {
  unixSendDatagram(address: Buffer, data: Buffer): number
  fdSetCloexec(fd: number): void
  isListeningUnixStream(fd: number): boolean
}

/** One datagram to a Unix socket: `address` is a path, or a leading NUL byte and an abstract name. */
export function unixSendDatagram(address: Buffer, data: Buffer): number {
  return loadAddon<Addon>().unixSendDatagram(address, data)
}

/** FD_CLOEXEC on an fd we inherited. */
export function fdSetCloexec(fd: number): void {
  loadAddon<Addon>().fdSetCloexec(fd)
}

/** Whether `fd` is a listening AF_UNIX stream socket. */
export function isListeningUnixStream(fd: number): boolean {
  return loadAddon<Addon>().isListeningUnixStream(fd)
}
