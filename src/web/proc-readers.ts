/**
 * What `mctl status` reads about a machine on the local host besides its
 * cgroup: a process's name and command line, host interface names, and
 * what machined-vmspawn learnt about a VM's guest. Like cgroup-stats.ts,
 * this belongs with the shared Linux plumbing (src/linux/) once that exists.
 * @module
 */

import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describeGuestId, GUEST_RECORD_FILE, parseGuestRecord, VMSPAWN_RUNTIME_ROOT } from '../protocol/vm-guest-record.ts'

/** Control characters as \xNN, so a process cannot forge lines or terminal escapes. */
function visible(s: string): string {
  // eslint-disable-next-line no-control-regex -- the control characters are what it escapes
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

/** /proc/PID/comm; undefined when the process is gone. */
export function processComm(pid: number): string | undefined {
  try {
    return visible(readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, ''))
  } catch {
    return undefined
  }
}

/** The command line, arguments joined by spaces, or "[comm]" for a kernel thread or zombie; undefined when gone. */
export function processCmdline(pid: number): string | undefined {
  let raw: Buffer
  try {
    raw = readFileSync(`/proc/${pid}/cmdline`)
  } catch {
    return undefined
  }
  const text = raw.toString('utf8').replace(/\0/g, ' ').trimEnd()
  if (text !== '') return visible(text)
  const comm = processComm(pid)
  return comm === undefined ? undefined : `[${comm}]`
}

/** Host network interface names by index (Node has no if_indextoname()). */
export function interfaceNames(sysClassNet = '/sys/class/net'): Map<number, string> {
  const names = new Map<number, string>()
  let entries: string[] = []
  try {
    entries = readdirSync(sysClassNet)
  } catch {
    return names
  }
  for (const name of entries) {
    try {
      names.set(Number(readFileSync(join(sysClassNet, name, 'ifindex'), 'utf8').trim()), name)
    } catch {
      // Gone meanwhile.
    }
  }
  return names
}

/** `mctl status`'s "Guest ID:" for a VM run by machined-vmspawn, '' for every other machine. */
export function guestIdLine(machineClass: string, id: string, leader: number): string {
  if (machineClass !== 'vm' || !Number.isSafeInteger(leader) || leader <= 0) return ''
  let record
  try {
    record = parseGuestRecord(readFileSync(join(VMSPAWN_RUNTIME_ROOT, String(leader), GUEST_RECORD_FILE), 'utf8'))
  } catch {
    record = undefined
  }
  return describeGuestId(id, record) ?? ''
}
