/**
 * Setting up the guest's notify channel as systemd-vmspawn does
 * (run_virtual_machine(), vsock_fix_child_cid(), open_vsock()): open
 * /dev/vhost-vsock, give the guest a CID on it (--vsock-cid=, else one
 * derived from the machine name, then random ones, until one is free),
 * listen on an AF_VSOCK port of the host's, and tell the guest where in
 * the `vmm.notify_socket` credential (SMBIOS type 11), which systemd ≥ 254
 * reads and sends its sd_notify messages to. qemu gets the vhost fd
 * itself (`vhostfd=`), so the CID it runs with is the one reserved here.
 *
 * --vsock=auto (the default) goes without the channel when the host
 * cannot provide it (no vhost_vsock module, no AF_VSOCK) and says why;
 * --vsock=yes and --vsock-cid= make that an error, before anything is
 * registered or started.
 * @module
 */

import { createHash, randomInt } from 'node:crypto'
import { closeSync, constants, openSync } from 'node:fs'
import type { VsockMode } from './options.ts'
import { PreflightError } from './preflight.ts'
import { vhostSetGuestCid, VMADDR_CID_HOST, vsockListen } from './vsock-native.ts'

export const VHOST_VSOCK_DEVICE = '/dev/vhost-vsock'

/** Regular guest CIDs are 3 … 2³²−2 (vmspawn's VSOCK_CID_IS_REGULAR); the pick stays below 2³²−2 as vmspawn's does. */
const CID_FIRST = 3
const CID_SPAN = 0xffffffff - 4
/** Tries of name-derived CIDs, then of random ones (vmspawn: 64 each). */
const TRIES = 64

export interface VsockChannel {
  /** The guest's CID, registered with machined as the machine's VSockCid. */
  readonly cid: number
  /** An fd of /dev/vhost-vsock with that CID set, for qemu's vhostfd=; the launcher closes its copy once qemu has it. */
  readonly vhostFd: number
  /** The listening AF_VSOCK socket (the notify server takes it over). */
  readonly listenFd: number
  readonly port: number
  /** The `vmm.notify_socket` credential's value. */
  readonly notifySocket: string
}

export type VsockSetup =
  | { readonly kind: 'on'; readonly channel: VsockChannel }
  /** `reason` says why the host cannot provide the channel; undefined when --vsock=no. */
  | { readonly kind: 'off'; readonly reason: string | undefined }

/** The CID for the i-th try: vmspawn hashes the machine name with the try's number (siphash there, SHA-256 here). */
export function cidFromName(machine: string, i: number): number {
  const digest = createHash('sha256').update(`${machine}\0${i}`).digest()
  return CID_FIRST + Number(digest.readBigUInt64LE(0) % BigInt(CID_SPAN))
}

export type CidChoice = { readonly cid: number } | { readonly error: string }

/**
 * Reserves a CID through `trySet` (VHOST_VSOCK_SET_GUEST_CID: undefined
 * when set, else the errno code): the one asked for, or the first free of
 * the name-derived ones, then of random ones.
 */
export function chooseGuestCid(machine: string, requested: number | undefined, trySet: (cid: number) => string | undefined): CidChoice {
  if (requested !== undefined) {
    const e = trySet(requested)
    return e === undefined ? { cid: requested } : { error: e === 'EADDRINUSE' ? `CID ${requested} is already in use` : `cannot set CID ${requested}: ${e}` }
  }
  const candidates = [
    ...Array.from({ length: TRIES }, (_, i) => () => cidFromName(machine, i)),
    ...Array.from({ length: TRIES }, () => () => CID_FIRST + randomInt(0, CID_SPAN)),
  ]
  for (const next of candidates) {
    const cid = next()
    const e = trySet(cid)
    if (e === undefined) return { cid }
    if (e !== 'EADDRINUSE') return { error: `cannot set a guest CID: ${e}` }
  }
  return { error: 'no free guest CID found' }
}

function describeOpenError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'No such file or directory'
  if (code === 'EACCES' || code === 'EPERM') return 'Permission denied'
  if (code === 'ENODEV') return 'No such device'
  return (err as Error).message
}

export interface VsockDeps {
  readonly device?: string
}

/** Sets the channel up, or says why not (auto), or throws a PreflightError (required). */
export function openVsockChannel(mode: VsockMode, requestedCid: number | undefined, machine: string, deps: VsockDeps = {}): VsockSetup {
  if (mode === 'no') return { kind: 'off', reason: undefined }
  const required = mode === 'yes' || requestedCid !== undefined
  const option = requestedCid !== undefined ? '--vsock-cid' : '--vsock=yes'
  const unavailable = (reason: string, hint = ''): VsockSetup => {
    if (required) throw new PreflightError(`${option} needs vsock, which this host cannot provide: ${reason}${hint}`)
    return { kind: 'off', reason }
  }
  const device = deps.device ?? VHOST_VSOCK_DEVICE
  let vhostFd: number
  try {
    vhostFd = openSync(device, constants.O_RDWR)
  } catch (err) {
    return unavailable(`${device}: ${describeOpenError(err)}`, ' (modprobe vhost_vsock)')
  }
  const choice = chooseGuestCid(machine, requestedCid, (cid) => vhostSetGuestCid(vhostFd, cid))
  if ('error' in choice) {
    closeSync(vhostFd)
    if (requestedCid !== undefined) throw new PreflightError(`Cannot use --vsock-cid=${requestedCid}: ${choice.error}`)
    return unavailable(choice.error)
  }
  let listener: { fd: number; port: number }
  try {
    listener = vsockListen()
  } catch (err) {
    closeSync(vhostFd)
    return unavailable(`cannot listen on AF_VSOCK: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  return {
    kind: 'on',
    channel: {
      cid: choice.cid, vhostFd, listenFd: listener.fd, port: listener.port,
      notifySocket: `vsock-stream:${VMADDR_CID_HOST}:${listener.port}`,
    },
  }
}
