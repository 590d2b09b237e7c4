/**
 * The fleet's key layout in etcd (docs/fleet.md), in one place:
 *
 *   /machined-ts/fleet/v1/hosts/<host-id>/<lease>/host
 *   /machined-ts/fleet/v1/hosts/<host-id>/<lease>/machines/<name>
 *
 * <host-id> is the publishing host's /etc/machine-id (32 lower-case hex
 * digits), <lease> the etcd lease every one of its keys is attached to (16
 * lower-case hex digits, as etcdctl prints lease IDs), <name> a machine name
 * as machined accepts it. The lease in the key keeps two hosts that share a
 * machine ID (a cloned disk) apart instead of merging them, and lets a
 * reader tell a host's keys from those of an earlier run still alive.
 * Anything under the prefix that does not parse is somebody else's (or
 * corrupt) and is ignored, never trusted.
 * @module
 */

import { isValidMachineId } from '../protocol/machine-id.ts'
import { machineNameIsValid } from '../protocol/hostname.ts'

export const FLEET_PREFIX = '/machined-ts/fleet/v1/'
const HOSTS = `${FLEET_PREFIX}hosts/`

/** One publisher run: a host ID and the lease its keys hang on. */
export interface HostInstance {
  readonly hostId: string
  /** 16 lower-case hex digits. */
  readonly lease: string
}

export type FleetKey =
  | { readonly kind: 'host'; readonly instance: HostInstance }
  | { readonly kind: 'machine'; readonly instance: HostInstance; readonly name: string }

/** etcd's lease IDs are positive int64s; the client library hands them over in decimal. */
export function leaseToHex(id: string | bigint): string | undefined {
  let n: bigint
  try { n = BigInt(id) } catch { return undefined }
  if (n <= 0n || n > 0x7fffffffffffffffn) return undefined
  return n.toString(16).padStart(16, '0')
}

export function leaseFromHex(hex: string): string {
  return BigInt(`0x${hex}`).toString()
}

/** Every key of every publisher that uses this host ID (normally one). */
export function hostIdPrefix(hostId: string): string {
  return `${HOSTS}${hostId}/`
}

export function instancePrefix(i: HostInstance): string {
  return `${hostIdPrefix(i.hostId)}${i.lease}/`
}

export function hostKey(i: HostInstance): string {
  return `${instancePrefix(i)}host`
}

export function machinesPrefix(i: HostInstance): string {
  return `${instancePrefix(i)}machines/`
}

export function machineKey(i: HostInstance, name: string): string {
  return `${machinesPrefix(i)}${name}`
}

/** The key just past every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix)
  end[end.length - 1]! += 1 // every prefix here ends in '/', so no byte overflows
  return end
}

const LEASE_HEX = /^[0-9a-f]{16}$/
const NO_LEASE = '0'.repeat(16)

/** What a key under FLEET_PREFIX names, or undefined when it is not one of ours. */
export function parseFleetKey(key: string): FleetKey | undefined {
  if (!key.startsWith(HOSTS)) return undefined
  const parts = key.slice(HOSTS.length).split('/')
  const [hostId, lease, kind, name] = parts
  if (hostId === undefined || lease === undefined || !isValidMachineId(hostId) || !LEASE_HEX.test(lease) || lease === NO_LEASE) return undefined
  const instance = { hostId, lease }
  if (parts.length === 3 && kind === 'host') return { kind: 'host', instance }
  if (parts.length === 4 && kind === 'machines' && name !== undefined && machineNameIsValid(name)) return { kind: 'machine', instance, name }
  return undefined
}
