/**
 * The record machined-vmspawn keeps of what its guest said about itself
 * (over the vsock notify channel, in its console report, or in systemd's
 * console message about its machine ID; docs/vm-guest-protocol.md), and
 * the lines `mctl status` shows from it. machined-vmspawn writes
 * `/run/machined-vmspawn/<launcher PID>/guest` as KEY=VALUE lines; the
 * launcher is the machine's leader, so anybody who has the machine from
 * machined finds the record from its Leader. Nothing here is trusted for
 * anything but display and tests.
 * @module
 */

import { guestIdVerdict, type GuestIdVerdict } from './machine-id.ts'

/** Where machined-vmspawn (as root) keeps one directory per launcher, named by its PID. */
export const VMSPAWN_RUNTIME_ROOT = '/run/machined-vmspawn'

/** The record's file name inside a launcher's directory. */
export const GUEST_RECORD_FILE = 'guest'

/** The channel a fact came over. */
export type GuestChannel = 'vsock' | 'console'

export interface GuestRecord {
  /** From "Initializing machine ID from X.": e.g. "VM UUID", "random generator". */
  readonly machineIdSource?: string
  /** The guest's machine ID (X_SYSTEMD_MACHINE_ID=). */
  readonly machineId?: string
  /** The guest's /sys/class/dmi/id/product_uuid, as its report gave it. */
  readonly productUuid?: string
  readonly hostname?: string
  /** READY=1 came in this boot. */
  readonly ready?: true
  /** Over which channel READY=1 came. */
  readonly readyVia?: GuestChannel
  readonly status?: string
  /** The last target the guest reported active (X_SYSTEMD_UNIT_ACTIVE=). */
  readonly unitActive?: string
  /** The shutdown under way (X_SYSTEMD_SHUTDOWN=). */
  readonly shutdown?: string
}

/** Record keys in file order, and how each member is written and read back. */
const KEYS: readonly (readonly [keyof GuestRecord, string])[] = [
  ['machineIdSource', 'MACHINE_ID_SOURCE'],
  ['machineId', 'MACHINE_ID'],
  ['productUuid', 'PRODUCT_UUID'],
  ['hostname', 'HOSTNAME'],
  ['ready', 'READY'],
  ['readyVia', 'READY_VIA'],
  ['status', 'STATUS'],
  ['unitActive', 'UNIT_ACTIVE'],
  ['shutdown', 'SHUTDOWN'],
]

/** The record's text: one KEY=VALUE line per known fact (values never hold a line end: they are validated on the way in). */
export function formatGuestRecord(record: GuestRecord): string {
  const lines: string[] = []
  for (const [member, key] of KEYS) {
    const value = record[member]
    if (value === undefined) continue
    lines.push(`${key}=${value === true ? '1' : String(value).replace(/[\r\n]/g, ' ')}`)
  }
  return `${lines.join('\n')}\n`
}

/** The facts in a record's text; unknown keys and malformed lines are skipped. */
export function parseGuestRecord(text: string): GuestRecord {
  const out: Record<string, unknown> = {}
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=')
    if (eq < 0) continue
    const [key, value] = [line.slice(0, eq), line.slice(eq + 1)]
    const member = KEYS.find(([, k]) => k === key)?.[0]
    if (member === undefined) continue
    switch (member) {
      case 'ready':
        if (value === '1') out.ready = true
        break
      case 'readyVia':
        if (value === 'vsock' || value === 'console') out.readyVia = value
        break
      default:
        out[member] = value
    }
  }
  return out
}

/**
 * One line for `mctl status` on a VM: whether its guest took the ID it
 * was registered with. `registeredId` is the machine's Id as 32 hex
 * digits ('' for none); undefined when there is nothing to say (not a
 * machined-vmspawn VM, or its guest said nothing yet).
 */
export function describeGuestId(registeredId: string, record: GuestRecord | undefined): string | undefined {
  if (record === undefined) return undefined
  const verdict: GuestIdVerdict = guestIdVerdict(registeredId, record.machineId)
  const from = record.machineIdSource === undefined ? '' : ` (from ${record.machineIdSource})`
  switch (verdict) {
    case 'match': return `taken by the guest${from}`
    case 'mismatch': return `not taken: the guest runs as ${record.machineId ?? '?'}${from}`
    case 'no-registered-id': return record.machineId === undefined ? undefined : `guest runs as ${record.machineId}${from}`
    case 'unknown':
      // systemd said where it took its ID from, but not which ID (no report in the guest).
      if (record.machineIdSource === undefined) return undefined
      return record.machineIdSource === 'VM UUID' ? 'taken by the guest (from VM UUID)' : `guest initialised its ID from ${record.machineIdSource}`
  }
}

const VIA: Record<GuestChannel, string> = { vsock: 'over vsock', console: 'on the console' }

/**
 * One line for `mctl status` on how far the guest is: "ready (over vsock)",
 * "shutting down (poweroff)", with the guest's status text when it sent
 * one; undefined before it said either.
 */
export function describeGuestState(record: GuestRecord | undefined): string | undefined {
  if (record === undefined) return undefined
  const status = record.status === undefined ? '' : `: ${record.status}`
  if (record.shutdown !== undefined) return `shutting down (${record.shutdown})${status}`
  if (record.ready === true) return `ready${record.readyVia === undefined ? '' : ` (${VIA[record.readyVia]})`}${status}`
  return undefined
}
