/**
 * io.systemd.Machine.List on a Varlink connection, and its records as
 * the client's types. VarlinkMachinedClient lists through it, and so does
 * `mctl list`'s own small bundle (src/cli/quick-list.ts), which takes the
 * connection and this module without the rest of the client.
 * @module
 */

import { NotSupportedError, type ErrorCode } from '../protocol/errors.ts'
import { formatAddress } from '../protocol/address.ts'
import { SERVICE_ERRORS } from '../protocol/varlink/org.varlink.service.ts'
import type { MachineClass } from '../protocol/vocabulary.ts'
import { fromVarlinkError } from './errors.ts'
import type { MachineListEntry } from './types.ts'
import { VarlinkReplyError, type VarlinkConnection } from './varlink-connection.ts'

/** What the D-Bus answer would say, for errors Varlink carries without text. */
export function describer(name: string | undefined): (code: ErrorCode) => string {
  return (code) => {
    switch (code) {
      case 'NO_SUCH_MACHINE': return name === undefined ? 'No such machine' : `No machine '${name}' known`
      case 'MACHINE_EXISTS': return `Machine '${name ?? ''}' already exists`
      case 'NO_PRIVATE_NETWORKING': return `Machine ${name ?? ''} does not use private networking`
      case 'NO_OS_RELEASE_INFORMATION': return 'Machine does not contain OS release information'
      case 'NO_UID_SHIFT': return `Machine ${name ?? ''} uses a complex UID/GID mapping, cannot determine shift`
      case 'NOT_SUPPORTED': return 'Operation not supported'
      case 'ACCESS_DENIED': return 'Permission denied'
      case 'NO_SUCH_PROCESS': return 'No such process'
      case 'FILE_NOT_FOUND': return 'No such file or directory'
      case 'FILE_EXISTS': return 'File exists'
      case 'LIMITS_EXCEEDED': return 'No buffer space available'
      default: return code
    }
  }
}

/** One machine as List describes it. */
export interface ListRecord {
  name: string
  id?: string
  service?: string
  class: string
  leader?: { pid: number }
  rootDirectory?: string
  unit?: string
  timestamp?: { realtime?: number; monotonic?: number }
  addresses?: { family: number; address: number[] }[]
  OSRelease?: string[]
  UIDShift?: number
}

/**
 * The machines List names: all of them, or the one named. With `metadata`
 * (acquireMetadata "graceful") each brings its os-release, addresses and
 * UID shift where the daemon could tell them.
 */
export async function listRecords(conn: VarlinkConnection, filter: { name?: string }, metadata: boolean): Promise<ListRecord[]> {
  const parameters: Record<string, unknown> = { ...filter }
  if (metadata) parameters.acquireMetadata = 'graceful'
  try {
    if (filter.name !== undefined) return [(await conn.call('io.systemd.Machine.List', parameters)) as unknown as ListRecord]
    return (await conn.callMore('io.systemd.Machine.List', parameters)) as unknown as ListRecord[]
  } catch (err) {
    if (err instanceof VarlinkReplyError) {
      // systemd answers an empty registry with NoSuchMachine (its .host never leaves it empty).
      if (filter.name === undefined && err.error === 'io.systemd.Machine.NoSuchMachine') return []
      // systemd-machined before 257 has no List or no acquireMetadata (256 serves Register only): NotSupported lets a caller ask over D-Bus.
      if (metadata && (err.error === SERVICE_ERRORS.METHOD_NOT_FOUND || (err.error === SERVICE_ERRORS.INVALID_PARAMETER && err.parameters.parameter === 'acquireMetadata'))) {
        throw new NotSupportedError('This machined cannot list machines with their metadata over Varlink')
      }
      throw fromVarlinkError(err.error, err.parameters, describer(filter.name))
    }
    throw err
  }
}

/** A record listed with its metadata as a row of listWithMetadata(); a field is undefined where the daemon could not tell. */
export function listEntryOf(r: ListRecord): MachineListEntry {
  const osRelease: Record<string, string> | undefined = r.OSRelease === undefined ? undefined : {}
  for (const line of r.OSRelease ?? []) {
    const eq = line.indexOf('=')
    if (eq > 0) osRelease![line.slice(0, eq)] = line.slice(eq + 1)
  }
  return {
    name: r.name, class: r.class as MachineClass | '', service: r.service ?? '', osRelease,
    addresses: r.addresses?.map((a) => ({ family: a.family as 2 | 10, address: formatAddress(a.family, Uint8Array.from(a.address)) })),
  }
}
