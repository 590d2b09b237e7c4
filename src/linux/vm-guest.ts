/**
 * What machined-vmspawn learnt about a VM's guest, for `mctl status` and
 * the web console: its record is found from the machine's leader, which
 * is the launcher itself (src/protocol/vm-guest-record.ts). Read from the
 * local host only, like the cgroup and /proc lookups beside it.
 * @module
 */

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { GUEST_RECORD_FILE, parseGuestRecord, VMSPAWN_RUNTIME_ROOT, type GuestRecord } from '../protocol/vm-guest-record.ts'

/** undefined when the leader is no machined-vmspawn launcher (or its guest said nothing yet). */
export function vmGuestRecord(leaderPid: number, root = VMSPAWN_RUNTIME_ROOT): GuestRecord | undefined {
  if (!Number.isSafeInteger(leaderPid) || leaderPid <= 0) return undefined
  try {
    return parseGuestRecord(readFileSync(join(root, String(leaderPid), GUEST_RECORD_FILE), 'utf8'))
  } catch {
    return undefined
  }
}
