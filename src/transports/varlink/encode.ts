/**
 * One machine as io.systemd.Machine.List describes it
 * (list_machine_one_and_maybe_read_metadata() in machined-varlink.c):
 * fields in systemd's order, empty and unset ones left out, and with
 * acquireMetadata the addresses, os-release and UID shift, whose errors
 * either fail the call with the metadata's own error names or, in
 * "graceful" mode, just leave the field out.
 * @module
 */

import type { Caller } from '../../core/authorization.ts'
import type { Machine } from '../../core/machine.ts'
import { machineUidShift } from '../../core/machine-ids.ts'
import { machineAddresses, machineOsRelease } from '../../core/machine-inspect.ts'
import type { Manager } from '../../core/manager.ts'
import { MachinedError } from '../../protocol/errors.ts'
import { MACHINE_ERRORS } from '../../protocol/varlink/io.systemd.Machine.ts'
import type { ProcessIdentity } from './decode.ts'
import { VarlinkError } from './errors.ts'

export type AcquireMetadata = 'no' | 'yes' | 'graceful'

function nonEmpty(key: string, value: string | undefined): Record<string, string> {
  return value === undefined || value === '' ? {} : { [key]: value }
}

/**
 * Runs one metadata lookup. "Not supported" (a VM has no addresses we can
 * read) is NotAvailable here, not NotSupported: systemd maps
 * ERRNO_IS_NOT_SUPPORTED to VARLINK_ERROR_MACHINE_NOT_AVAILABLE for List.
 */
async function metadata<T>(mode: AcquireMetadata, read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read()
  } catch (err) {
    if (mode === 'graceful') return undefined
    if (err instanceof MachinedError && err.code === 'NOT_SUPPORTED') throw new VarlinkError(MACHINE_ERRORS.NOT_AVAILABLE)
    throw err
  }
}

/**
 * `caller` decides what of the machine is shown: rootDirectory and
 * sshPrivateKeyPath only to root and the machine's owner (Manager.view,
 * CVE-2016-6349).
 */
export async function encodeMachine(
  manager: Manager, identity: ProcessIdentity, m: Machine, options: { mode: AcquireMetadata; caller: Caller },
): Promise<Record<string, unknown>> {
  const { mode } = options
  const extras = manager.extras(m)
  const view = manager.view(m, options.caller)
  const out: Record<string, unknown> = { name: m.name, ...nonEmpty('id', m.idString) }
  if (m.class !== undefined) out.class = m.class
  Object.assign(out, nonEmpty('service', m.service), nonEmpty('rootDirectory', view.rootDirectory), nonEmpty('unit', m.unit?.unit))
  // JSON_BUILD_PIDREF: pidfdId and bootId only when the pidfd's inode number is known (held with the leader's pidfd).
  const pidfdId = m.leader.pidfdId ?? identity.pidfdIdOf(m.leader)
  out.leader = pidfdId === undefined ? { pid: m.leader.pid } : { pid: m.leader.pid, pidfdId, bootId: identity.bootId }
  const { realtime, monotonic } = m.timestamp
  if (realtime !== 0n || monotonic !== 0n) out.timestamp = { realtime: Number(realtime), monotonic: Number(monotonic) }
  if (extras.vsockCid !== undefined) out.vSockCid = extras.vsockCid
  Object.assign(out, nonEmpty('sshAddress', extras.sshAddress), nonEmpty('sshPrivateKeyPath', view.sshPrivateKeyPath))
  if (mode === 'no') return out

  // The three are read at once (each is a trip to the thread pool or more). With "yes" the error is that of the first
  // to fail in systemd's order (addresses, os-release, UID shift), not the first in time.
  const reads = [
    metadata(mode, () => machineAddresses(manager, m)),
    metadata(mode, () => machineOsRelease(manager, m)),
    metadata(mode, () => machineUidShift(manager, m)),
  ] as const
  await Promise.allSettled(reads)
  const addresses = await reads[0]
  const osRelease = await reads[1]
  const shift = await reads[2]
  if (addresses !== undefined && addresses.length > 0) {
    out.addresses = addresses.map((a) => ({ family: a.family, address: [...a.address] }))
  }
  if (osRelease !== undefined && osRelease.size > 0) out.OSRelease = [...osRelease].map(([k, v]) => `${k}=${v}`)
  if (shift !== undefined) out.UIDShift = shift
  return out
}

/** How many machines a List encodes ahead of the one it sends. */
const LIST_AHEAD = 16

/**
 * Every machine of `machines`, encoded in order, the next LIST_AHEAD already
 * under way while one is sent: with acquireMetadata, one machine's reads
 * wait on the thread pool (and, for a private network, on a thread that
 * joins it), and a list read one machine after the other took as many
 * waits as it has machines. The window keeps the work a single List starts bounded.
 */
export async function* encodeMachines(
  manager: Manager, identity: ProcessIdentity, machines: readonly Machine[], options: { mode: AcquireMetadata; caller: Caller },
): AsyncGenerator<Record<string, unknown>> {
  const ahead: Promise<Record<string, unknown>>[] = []
  let next = 0
  for (;;) {
    while (next < machines.length && ahead.length < LIST_AHEAD) {
      const encoding = encodeMachine(manager, identity, machines[next++]!, options)
      // Handled here so that one failing ahead of an earlier failure is not an unhandled rejection; it is still awaited in its turn.
      encoding.catch(() => undefined)
      ahead.push(encoding)
    }
    const encoding = ahead.shift()
    if (encoding === undefined) return
    yield await encoding
  }
}
