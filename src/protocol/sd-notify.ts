/**
 * What a VM's guest tells its host in sd_notify(3) messages, and the
 * fields machined-vmspawn understands (docs/vm-guest-protocol.md). A
 * systemd ≥ 254 guest given the `vmm.notify_socket` credential sends them
 * over AF_VSOCK, one message per connection, ended by the sender's
 * shutdown(SHUT_WR) (sd-daemon.c); the console report
 * (./guest-report.ts) carries the same fields on a serial line.
 *
 * Everything here comes from the guest, so it is parsed as hostile input:
 * a size limit (systemd's NOTIFY_BUFFER_MAX), no NUL bytes, strict UTF-8,
 * each value validated against what systemd itself would send, control
 * characters kept out of anything that reaches a terminal. Nothing is
 * trusted for anything but display and the launcher's exit status.
 * @module
 */

import { hostnameIsValid } from './hostname.ts'
import { isValidMachineId, machineIdFromProductUuid } from './machine-id.ts'
import { unitNameIsValid } from './unit-name.ts'
import { utf8Decode } from './utf8.ts'

/** systemd's NOTIFY_BUFFER_MAX (PIPE_BUF): longer messages are refused whole. */
export const NOTIFY_MESSAGE_MAX = 4096

/** STATUS= is free text for people: kept to this many characters. */
export const STATUS_TEXT_MAX = 256

/** The field names as systemd spells them (sd_notify(3), systemd(1) "X_SYSTEMD_…"). */
export const NOTIFY_FIELDS = {
  ready: 'READY',
  status: 'STATUS',
  exitStatus: 'EXIT_STATUS',
  machineId: 'X_SYSTEMD_MACHINE_ID',
  hostname: 'X_SYSTEMD_HOSTNAME',
  unitActive: 'X_SYSTEMD_UNIT_ACTIVE',
  unitInactive: 'X_SYSTEMD_UNIT_INACTIVE',
  shutdown: 'X_SYSTEMD_SHUTDOWN',
  /** Ours: the guest's /sys/class/dmi/id/product_uuid, from the console report. */
  productUuid: 'X_MACHINED_PRODUCT_UUID',
} as const

/** KEY=VALUE pairs in the order sent; the first of a repeated key wins, as systemd-vmspawn reads them. */
export type NotifyAssignments = ReadonlyMap<string, string>

export type NotifyParse =
  | { readonly ok: true; readonly assignments: NotifyAssignments }
  | { readonly ok: false; readonly reason: string }

// Environment-variable style, as sd_notify(3) fields are.
const KEY = /^[A-Z_][A-Z0-9_]*$/

/** Collects KEY=VALUE words into assignments: words without '=' or with a malformed key are skipped. */
export function collectAssignments(words: readonly string[]): Map<string, string> {
  const out = new Map<string, string>()
  for (const word of words) {
    const eq = word.indexOf('=')
    if (eq <= 0) continue
    const key = word.slice(0, eq)
    if (KEY.test(key) && !out.has(key)) out.set(key, word.slice(eq + 1))
  }
  return out
}

/**
 * One notify message, as read to EOF from one connection: lines split at
 * '\n' or '\r' (systemd-vmspawn's read_vsock_notify()), each a KEY=VALUE
 * assignment; empty and malformed lines are skipped.
 */
export function parseNotifyMessage(bytes: Uint8Array): NotifyParse {
  if (bytes.length > NOTIFY_MESSAGE_MAX) return { ok: false, reason: `longer than ${NOTIFY_MESSAGE_MAX} bytes` }
  if (bytes.includes(0)) return { ok: false, reason: 'embedded NUL byte' }
  const text = utf8Decode(bytes)
  if (text === undefined) return { ok: false, reason: 'not valid UTF-8' }
  return { ok: true, assignments: collectAssignments(text.split(/[\r\n]/)) }
}

/** What the fields say about the guest; a field absent or refused leaves its member out. */
export interface GuestNotifyFacts {
  /** READY=1: the guest finished booting. */
  readonly ready?: true
  /** STATUS=, without control characters, at most STATUS_TEXT_MAX characters. */
  readonly status?: string
  /** EXIT_STATUS=: what the guest wants its VM's exit status to be (0–255). */
  readonly exitStatus?: number
  readonly machineId?: string
  readonly hostname?: string
  readonly unitActive?: string
  readonly unitInactive?: string
  /** X_SYSTEMD_SHUTDOWN=: the kind of shutdown under way (poweroff, reboot, halt, kexec, exit). */
  readonly shutdown?: string
  /** The product UUID the guest saw, canonical lower-case form. */
  readonly productUuid?: string
}

export interface InterpretedFields {
  readonly facts: GuestNotifyFacts
  /** Known fields whose values were refused (a guest sending junk, or a newer systemd). */
  readonly refused: readonly string[]
}

// C0 and C1 controls and DEL: a guest must not drive the host's terminal through a status line.
const CONTROL = /\p{Cc}/gu

function statusText(value: string): string | undefined {
  const text = value.replace(CONTROL, '').trim()
  return text === '' ? undefined : [...text].slice(0, STATUS_TEXT_MAX).join('')
}

function exitStatus(value: string): number | undefined {
  return /^\d{1,3}$/.test(value) && Number(value) <= 255 ? Number(value) : undefined
}

function shutdownKind(value: string): string | undefined {
  return /^[a-z][a-z-]{0,31}$/.test(value) ? value : undefined
}

/** Each known field's validator: the value to keep, or undefined to refuse it. */
const VALIDATORS: { readonly [K in keyof GuestNotifyFacts]-?: (value: string) => GuestNotifyFacts[K] | undefined } = {
  ready: (v) => (v === '1' ? true : undefined),
  status: statusText,
  exitStatus,
  machineId: (v) => (isValidMachineId(v) ? v : undefined),
  hostname: (v) => (hostnameIsValid(v) ? v : undefined),
  unitActive: (v) => (unitNameIsValid(v) ? v : undefined),
  unitInactive: (v) => (unitNameIsValid(v) ? v : undefined),
  shutdown: shutdownKind,
  productUuid: (v) => (machineIdFromProductUuid(v) === undefined ? undefined : v.toLowerCase()),
}

/** The known fields among the assignments, validated; unknown fields are ignored. */
export function interpretNotifyFields(assignments: NotifyAssignments): InterpretedFields {
  const facts: Record<string, unknown> = {}
  const refused: string[] = []
  for (const [member, field] of Object.entries(NOTIFY_FIELDS) as [keyof GuestNotifyFacts, string][]) {
    const value = assignments.get(field)
    if (value === undefined) continue
    const kept = VALIDATORS[member](value)
    if (kept === undefined) refused.push(field)
    else facts[member] = kept
  }
  return { facts, refused }
}
