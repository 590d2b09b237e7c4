/**
 * Typed access to native/addon/, the one native module: what
 * Node cannot do itself on a Unix socket or a process. It is built by
 * `npm ci` (the package's install script runs node-gyp in native/) and
 * loaded lazily (src/native/addon.ts), so code that never needs it runs
 * without it.
 * @module
 */

import { closeSync } from 'node:fs'
import type { Socket } from 'node:net'
import { loadAddon } from '../native/addon.ts'
import { sendAllWithFds } from '../native/fd-writer.ts'

export { fdInode, pidfdHasExited, pidfdOpen, pidfdOpenOrErrno, pidfdSendSignal } from '../native/pidfd.ts'
export { pollSetOpen, type PollSet as NativePollSet } from '../native/poll-set.ts'

export interface PeerCred {
  readonly uid: number
  readonly gid: number
  readonly pid: number
}

interface Addon {
  getPeerCred(fd: number): PeerCred
  socketPair(): [number, number]
  receiveFds(fd: number): { data: Buffer; fds: number[] }
  inotifyInit(): number
  inotifyAddWatch(fd: number, path: string, mask: number): number
  inotifyRmWatch(fd: number, wd: number): void
  mallocTrim(): boolean
  releaseExecutablePages(): number
}

function load(): Addon {
  return loadAddon<Addon>()
}

/**
 * The fd of a connected net.Socket. Node has no public API for it: the
 * libuv handle behind a socket (a Pipe for Unix sockets) exposes it as
 * `_handle.fd`, which is stable across Node versions on Linux.
 */
export function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd
  if (typeof fd !== 'number' || fd < 0) throw new Error('The socket has no file descriptor (closed, or not a Unix socket)')
  return fd
}

/** Who is at the other end of a Unix socket, as the kernel recorded at connect() (SO_PEERCRED). */
export function getPeerCred(fd: number): PeerCred {
  return load().getPeerCred(fd)
}

export function peerCredentialsOf(socket: Socket): PeerCred {
  return getPeerCred(socketFd(socket))
}

/** socketpair(2): two connected Unix stream sockets, close-on-exec. */
export function socketPair(): [number, number] {
  return load().socketPair()
}

/** One message waiting on a Unix socket (recvmsg without blocking): its bytes and the fds passed with it, now ours. */
export function receiveFds(fd: number): { data: Buffer; fds: number[] } {
  return load().receiveFds(fd)
}

/**
 * Sends `data` with `fds` on its first byte over a node:net Unix socket,
 * which cannot pass fds itself: through the addon on the socket's fd
 * (FdWriter, src/native/fd-writer.ts: the one way fds are sent, waiting
 * for writability when the socket is full). node:net must have nothing of
 * its own queued there meanwhile. Resolves once all is sent; rejects when
 * the socket closes first or the peer stops reading. The fds stay ours.
 */
export function sendWithFds(socket: Socket, data: Buffer, fds: readonly number[]): Promise<void> {
  const fd = socketFd(socket)
  let stop: (() => void) | undefined
  // node:net closes the fd with the socket: no write may outlive it.
  const onClose = (): void => stop?.()
  socket.once('close', onClose)
  return sendAllWithFds(fd, data, fds, (s) => { stop = s }).finally(() => socket.off('close', onClose))
}

/** inotify_init1(IN_NONBLOCK | IN_CLOEXEC). */
export function inotifyInit(): number {
  return load().inotifyInit()
}

/** inotify_add_watch(2): the watch descriptor; the same one again for a path already watched. */
export function inotifyAddWatch(fd: number, path: string, mask: number): number {
  return load().inotifyAddWatch(fd, path, mask)
}

export function inotifyRmWatch(fd: number, wd: number): void {
  load().inotifyRmWatch(fd, wd)
}

/** malloc_trim(0): gives the free pages of the C heap back to the kernel; true if any went. */
export function mallocTrim(): boolean {
  return load().mallocTrim()
}

/** Unmaps the node binary's pages that are mapped but unchanged (native/addon/main.c says why); the KiB they held. */
export function releaseExecutablePages(): number {
  return load().releaseExecutablePages()
}

export function closeFd(fd: number): void {
  closeSync(fd)
}
