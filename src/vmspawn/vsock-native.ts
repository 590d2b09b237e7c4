/**
 * The launcher's typed view of the addon's AF_VSOCK and /dev/vhost-vsock
 * calls (native/addon/vsock.c), which Node cannot reach; the notify channel
 * learns that its sockets are readable through the addon's poll set
 * (src/native/poll-set.ts). The C side returns negative errno values; here they become
 * errors shaped like Node's own (`code`, `errno`, `syscall`).
 * @module
 */

import { closeSync } from 'node:fs'
import { getSystemErrorName } from 'node:util'
import { loadAddon } from '../native/addon.ts'

interface VsockModule {
  vsockListen(): number
  vsockLocalPort(fd: number): number
  vsockAccept(fd: number): [number, number, number] | number
  vhostVsockSetGuestCid(fd: number, cid: number): number
}

/** VMADDR_CID_HOST: the host, as the guest addresses it. */
export const VMADDR_CID_HOST = 2
/** VMADDR_CID_ANY: no CID (vsockAccept's answer for a peer that has none). */
export const VMADDR_CID_ANY = 0xffffffff

function vsock(): VsockModule {
  return loadAddon<VsockModule>()
}

/** An Error like Node's system errors for a negative errno `r` from `syscall`. */
export function errnoError(r: number, syscall: string): NodeJS.ErrnoException {
  const code = getSystemErrorName(r)
  return Object.assign(new Error(`${syscall}: ${code}`), { code, errno: r, syscall })
}

function check(r: number, syscall: string): number {
  if (r < 0) throw errnoError(r, syscall)
  return r
}

/** A listening AF_VSOCK stream socket on any CID and a port the kernel picks: its fd and port. */
export function vsockListen(): { fd: number; port: number } {
  const fd = check(vsock().vsockListen(), 'vsock listen')
  const port = vsock().vsockLocalPort(fd)
  if (port < 0) {
    closeSync(fd)
    throw errnoError(port, 'getsockname')
  }
  return { fd, port }
}

export interface AcceptedConnection {
  readonly fd: number
  /** The peer's CID and port (VMADDR_CID_ANY when it has none). */
  readonly cid: number
  readonly port: number
}

/** The next pending connection (non-blocking), or undefined when none is pending. */
export function vsockAccept(listenFd: number): AcceptedConnection | undefined {
  const r = vsock().vsockAccept(listenFd)
  if (typeof r === 'number') {
    if (getSystemErrorName(r) === 'EAGAIN') return undefined
    throw errnoError(r, 'accept4')
  }
  return { fd: r[0], cid: r[1], port: r[2] }
}

/** VHOST_VSOCK_SET_GUEST_CID on an fd of /dev/vhost-vsock; the error code ('EADDRINUSE' when taken) or undefined. */
export function vhostSetGuestCid(vhostFd: number, cid: number): string | undefined {
  const r = vsock().vhostVsockSetGuestCid(vhostFd, cid)
  return r < 0 ? getSystemErrorName(r) : undefined
}
