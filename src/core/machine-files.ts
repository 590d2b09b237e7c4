/**
 * What callers ask of a container's files (copies, bind mounts), checked
 * the way systemd 252's machine-dbus.c checks it, with its messages. Pure:
 * the Manager runs these checks, then the MachineFiles port does the work.
 * @module
 */

import { FailedError, InvalidArgsError } from '../protocol/errors.ts'
import { INCOMING_DIR, PROPAGATE_DIR } from '../protocol/propagate.ts'
import { pathExtractDirectory, pathExtractFilename, pathIsAbsolute, pathIsNormalized } from '../protocol/path.ts'


/** MACHINE_COPY_REPLACE, the one public flag of Copy*WithFlags. */
export const MACHINE_COPY_REPLACE = 1n

export interface CopyCall {
  readonly direction: 'from' | 'to'
  /** In the container for "from", on the host for "to". */
  readonly source: string
  /** "" means the same path as source. */
  readonly destination: string
  /** Copy*WithFlags' flags (0 for the others): MACHINE_COPY_REPLACE replaces files in the way. */
  readonly flags: bigint
}

export interface BindMountCall {
  /** On the host. */
  readonly source: string
  /** In the container; "" means the same path as source. */
  readonly destination: string
  readonly readOnly: boolean
  readonly mkdir: boolean
}

/** Copy*WithFlags' flags: anything but MACHINE_COPY_REPLACE is EINVAL (strerror, as systemd returns a bare -EINVAL). */
export function copyFlagsReplace(flags: bigint): boolean {
  if ((flags & ~MACHINE_COPY_REPLACE) !== 0n) throw new InvalidArgsError('Invalid argument')
  return (flags & MACHINE_COPY_REPLACE) !== 0n
}

/** The host's and the container's path of a copy; both absolute. */
export function copyPaths(call: CopyCall): { direction: 'from' | 'to'; hostPath: string; containerPath: string } {
  if (!pathIsAbsolute(call.source)) throw new InvalidArgsError('Source path must be absolute.')
  const destination = call.destination === '' ? call.source : call.destination
  if (!pathIsAbsolute(destination)) throw new InvalidArgsError('Destination path must be absolute.')
  return call.direction === 'from'
    ? { direction: 'from', hostPath: destination, containerPath: call.source }
    : { direction: 'to', hostPath: call.source, containerPath: destination }
}

/** strerror() of the errnos path_extract_filename() fails with. */
const STRERROR = { EINVAL: 'Invalid argument', EADDRNOTAVAIL: 'Cannot assign requested address' } as const

/**
 * Both ends of a copy must name a file (not "/", not ".."): systemd checks
 * this after authorisation. Returns them as directory + "/" + file name
 * (trailing slashes and "." dropped), the form the copy works on.
 */
export function copyFileNames<T extends { hostPath: string; containerPath: string }>(paths: T): T {
  const clean = (p: string): string => {
    const name = pathExtractFilename(p)
    if (name === 'EINVAL' || name === 'EADDRNOTAVAIL') {
      const message = `Failed to extract file name of '${p}' path: ${STRERROR[name]}`
      throw name === 'EINVAL' ? new InvalidArgsError(message) : new FailedError(message)
    }
    const dir = pathExtractDirectory(p)
    return `${dir === '/' ? '' : dir}/${name}`
  }
  return { ...paths, hostPath: clean(paths.hostPath), containerPath: clean(paths.containerPath) }
}

/** Source and destination of a bind mount (absolute and normalized), and where it passes through. */
export function bindMountPaths(call: BindMountCall, machine: string): { source: string; destination: string; propagateDir: string; incomingDir: string } {
  if (!pathIsAbsolute(call.source) || !pathIsNormalized(call.source)) throw new InvalidArgsError('Source path must be absolute and normalized.')
  const destination = call.destination === '' ? call.source : call.destination
  if (!pathIsAbsolute(destination) || !pathIsNormalized(destination)) throw new InvalidArgsError('Destination path must be absolute and normalized.')
  return { source: call.source, destination, propagateDir: `${PROPAGATE_DIR}/${machine}`, incomingDir: INCOMING_DIR }
}
