/**
 * The record machined-vmspawn keeps of what its guest's console said about
 * the guest's machine ID, and the one line `mctl status` shows from it.
 * machined-vmspawn writes `/run/machined-vmspawn/<launcher PID>/guest` as
 * KEY=VALUE lines; the launcher is the machine's leader, so anybody who has
 * the machine from machined finds the record from its Leader. Nothing here
 * is trusted for anything but display and tests.
 * @module
 */

import { guestIdVerdict, type GuestIdVerdict } from './machine-id.ts'

/** Where machined-vmspawn (as root) keeps one directory per launcher, named by its PID. */
export const VMSPAWN_RUNTIME_ROOT = '/run/machined-vmspawn'

/** The record's file name inside a launcher's directory. */
export const GUEST_RECORD_FILE = 'guest'

export interface GuestIdentity {
  /** From "Initializing machine ID from X.": e.g. "VM UUID", "random generator". */
  readonly machineIdSource?: string
  /** The guest's /etc/machine-id, as its report gave it. */
  readonly machineId?: string
  /** The guest's /sys/class/dmi/id/product_uuid, as its report gave it. */
  readonly productUuid?: string
}

/** The record's text: one KEY=VALUE line per known fact. */
export function formatGuestRecord(identity: GuestIdentity): string {
  const lines = [
    identity.machineIdSource === undefined ? undefined : `MACHINE_ID_SOURCE=${identity.machineIdSource}`,
    identity.machineId === undefined ? undefined : `MACHINE_ID=${identity.machineId}`,
    identity.productUuid === undefined ? undefined : `PRODUCT_UUID=${identity.productUuid}`,
  ].filter((l) => l !== undefined)
  return `${lines.join('\n')}\n`
}

/** The facts in a record's text; unknown keys and malformed lines are skipped. */
export function parseGuestRecord(text: string): GuestIdentity {
  const out: { machineIdSource?: string; machineId?: string; productUuid?: string } = {}
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=')
    if (eq < 0) continue
    const [key, value] = [line.slice(0, eq), line.slice(eq + 1)]
    if (key === 'MACHINE_ID_SOURCE') out.machineIdSource = value
    else if (key === 'MACHINE_ID') out.machineId = value
    else if (key === 'PRODUCT_UUID') out.productUuid = value
  }
  return out
}

/**
 * One line for `mctl status` on a VM: whether its guest took the ID it
 * was registered with. `registeredId` is the machine's Id as 32 hex
 * digits ('' for none); undefined when there is nothing to say (not a
 * machined-vmspawn VM, or its guest said nothing yet).
 */
export function describeGuestId(registeredId: string, identity: GuestIdentity | undefined): string | undefined {
  if (identity === undefined) return undefined
  const verdict: GuestIdVerdict = guestIdVerdict(registeredId, identity.machineId)
  const from = identity.machineIdSource === undefined ? '' : ` (from ${identity.machineIdSource})`
  switch (verdict) {
    case 'match': return `taken by the guest${from}`
    case 'mismatch': return `not taken: the guest runs as ${identity.machineId ?? '?'}${from}`
    case 'no-registered-id': return identity.machineId === undefined ? undefined : `guest runs as ${identity.machineId}${from}`
    case 'unknown':
      // systemd said where it took its ID from, but not which ID (no report unit in the guest).
      if (identity.machineIdSource === undefined) return undefined
      return identity.machineIdSource === 'VM UUID' ? 'taken by the guest (from VM UUID)' : `guest initialised its ID from ${identity.machineIdSource}`
  }
}
