/**
 * A container's files: its root directory, copies in and out, and bind
 * mounts (systemd 252's machine-dbus.c: open_root_directory, copy,
 * bind_mount). What callers ask is checked the way systemd checks it, in
 * its order and with its messages; then the MachineFiles port does the
 * work.
 * @module
 */

import { AccessDeniedError, errorFromCode, FailedError, InvalidArgsError, MachinedError, NotSupportedError } from '../protocol/errors.ts'
import { INCOMING_DIR, PROPAGATE_DIR } from '../protocol/propagate.ts'
import { pathExtractDirectory, pathExtractFilename, pathIsAbsolute, pathIsNormalized } from '../protocol/path.ts'
import { ACTIONS, type Caller } from './authorization.ts'
import type { Machine } from './machine.ts'
import { machineUidShift } from './machine-ids.ts'
import type { Manager } from './manager.ts'

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
    const file = pathExtractFilename(p)
    if ('errno' in file) {
      const message = `Failed to extract file name of '${p}' path: ${STRERROR[file.errno]}`
      throw file.errno === 'EINVAL' ? new InvalidArgsError(message) : new FailedError(message)
    }
    const dir = pathExtractDirectory(p)
    return `${dir === '/' ? '' : dir}/${file.name}`
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

/** What systemd answers when OPERATIONS_MAX copies are under way. */
const TOO_MANY_COPIES = 'Too many ongoing copies.'

/**
 * OpenMachineRootDirectory: an fd for the machine's "/" (the host's for
 * ".host"), this process's, for the transport to pass on and close
 * (journalctl -M reads the guest's journal through it). systemd asks
 * polkit's manage-machines first, then looks at the class.
 */
export async function openMachineRootDirectory(manager: Manager, machine: Machine, caller: Caller): Promise<number> {
  const { authorizer, files, processes } = manager.ports
  authorizer.check(caller, ACTIONS.manageMachines, machine.ownerUid)
  if (machine === manager.host) return files.openRootDirectory(undefined)
  if (machine.class !== 'container') throw new NotSupportedError('Opening the root directory is only supported on container machines.')
  // The daemon opens /proc/LEADER/root as root: an owner gets it only while the leader still runs as them (the
  // kernel's own rule for /proc/PID/root), not once it has exec'd a setuid program, say.
  if (caller.uid !== 0 && (await processes.ownerUid(machine.leader)) !== caller.uid) throw new AccessDeniedError('Permission denied')
  return files.openRootDirectory(machine.leader)
}

/**
 * Copy{From,To}Machine[WithFlags] (bus_machine_method_copy): checks in
 * systemd's order (operations, class, paths, authorisation), then the
 * copy runs as an operation. Only root may copy: the daemon reads and
 * writes host paths on the caller's behalf, which a machine's owner
 * could otherwise turn against files they cannot reach.
 */
export async function copyMachineFiles(manager: Manager, machine: Machine, call: CopyCall, caller: Caller): Promise<void> {
  manager.checkOperationRoom(TOO_MANY_COPIES)
  if (machine.class !== 'container') throw new NotSupportedError('Copying files is only supported on container machines.')
  const replace = copyFlagsReplace(call.flags)
  const asked = copyPaths(call)
  manager.ports.authorizer.check(caller, ACTIONS.manageMachines)
  const uidShift = await machineUidShift(manager, machine)
  const paths = copyFileNames(asked)
  await manager.runOperation(() => manager.ports.files.copy({ leader: machine.leader, ...paths, uidShift, replace }), TOO_MANY_COPIES)
}

/**
 * BindMountMachine (bus_machine_method_bind_mount): through the
 * propagation directory the container manager shares into the guest
 * (nspawn's and machined-spawn's /run/systemd/nspawn/propagate/NAME,
 * seen inside as /run/host/incoming). Root only, as copies.
 */
export async function bindMountIntoMachine(manager: Manager, machine: Machine, call: BindMountCall, caller: Caller): Promise<void> {
  if (machine.class !== 'container') throw new NotSupportedError('Bind mounting is only supported on container machines.')
  const paths = bindMountPaths(call, machine.name)
  manager.ports.authorizer.check(caller, ACTIONS.manageMachines)
  if ((await machineUidShift(manager, machine)) !== 0) throw new NotSupportedError('Can\'t bind mount on container with user namespacing applied.')
  try {
    await manager.ports.files.bindMount({ leader: machine.leader, ...paths, readOnly: call.readOnly, mkdir: call.mkdir })
  } catch (err) {
    if (!(err instanceof MachinedError)) throw err
    throw errorFromCode(err.code, `Failed to mount ${paths.source} on ${paths.destination} in machine's namespace: ${err.message}`)
  }
}
