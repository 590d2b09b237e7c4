/**
 * What the launcher knows about its guest, folded from both channels: the
 * vsock notify channel (sd_notify messages from a systemd ≥ 254 guest)
 * and the console (the guest report, systemd's machine-ID message, the
 * kernel banner). It keeps the record `mctl status` reads, tells the user
 * once when the guest is ready, shuts down or runs under another machine
 * ID than the VM's UUID, and remembers the exit status the guest asked
 * for (EXIT_STATUS=, which systemd-vmspawn makes its own exit status).
 * Malformed input is said once per kind and otherwise ignored.
 * @module
 */

import { guestIdVerdict } from '../protocol/machine-id.ts'
import { interpretNotifyFields, parseNotifyMessage, type InterpretedFields } from '../protocol/sd-notify.ts'
import type { GuestChannel, GuestRecord } from '../protocol/vm-guest-record.ts'
import { LineSplitter, parseConsoleLine } from './guest-console.ts'

export interface GuestWatchHooks {
  /** The record changed; `record` is the new whole. */
  onChange(record: GuestRecord): void
  /** A status line for the user. */
  log(message: string): void
}

const VIA: Record<GuestChannel, string> = { vsock: 'READY=1 over vsock', console: 'its report on the console' }

/** What holds for one boot only. */
const BOOT_FACTS = ['ready', 'readyVia', 'status', 'unitActive', 'shutdown'] as const

type MutableRecord = { -readonly [K in keyof GuestRecord]: GuestRecord[K] }

export class GuestWatch {
  readonly #hooks: GuestWatchHooks
  readonly #registeredId: string
  readonly #lines = new LineSplitter()
  readonly #said = new Set<string>()
  #record: GuestRecord = {}
  #exitStatus: number | undefined

  /** `registeredId`: the machine's Id (32 hex digits) the guest is expected to take. */
  constructor(registeredId: string, hooks: GuestWatchHooks) {
    this.#registeredId = registeredId
    this.#hooks = hooks
  }

  get record(): GuestRecord {
    return this.#record
  }

  /** EXIT_STATUS= from the guest's last notify message that had one. */
  get exitStatus(): number | undefined {
    return this.#exitStatus
  }

  /** Console output, in chunks as qemu writes it. */
  console(chunk: Buffer): void {
    for (const line of this.#lines.push(chunk.toString('latin1'))) {
      const fact = parseConsoleLine(line)
      if (fact === undefined) continue
      switch (fact.kind) {
        case 'boot': this.newBoot(); break
        case 'machine-id-source': this.#replace({ ...this.#record, machineIdSource: fact.source }); break
        case 'report': this.#apply(fact.fields, 'console'); break
        case 'unsupported-report': this.#once('report-version', `Ignoring the guest's report of protocol version ${fact.version} (this launcher reads version 1).`)
      }
    }
  }

  /** One sd_notify message from the vsock channel. */
  notify(message: Uint8Array): void {
    const parsed = parseNotifyMessage(message)
    if (!parsed.ok) {
      this.#once(`notify-${parsed.reason}`, `Ignoring a notify message from the guest: ${parsed.reason}.`)
      return
    }
    this.#apply(interpretNotifyFields(parsed.assignments), 'vsock')
  }

  /** A new boot (the kernel's banner, or our reset): what the last boot said no longer holds. */
  newBoot(): void {
    const next: MutableRecord = { ...this.#record }
    for (const fact of BOOT_FACTS) delete next[fact]
    this.#replace(next)
    this.#exitStatus = undefined
  }

  #apply({ facts, refused }: InterpretedFields, via: GuestChannel): void {
    for (const field of refused) this.#once(`refused-${field}`, `Ignoring the guest's malformed ${field}= (${via}).`)
    const next: MutableRecord = { ...this.#record }
    if (facts.machineId !== undefined) {
      next.machineId = facts.machineId
      if (guestIdVerdict(this.#registeredId, facts.machineId) === 'mismatch') {
        this.#once('machine-id-mismatch', `The guest runs as machine ID ${facts.machineId}, not as the VM's UUID.`)
      }
    }
    if (facts.productUuid !== undefined) next.productUuid = facts.productUuid
    if (facts.hostname !== undefined) next.hostname = facts.hostname
    if (facts.status !== undefined) next.status = facts.status
    if (facts.unitActive !== undefined) next.unitActive = facts.unitActive
    if (facts.exitStatus !== undefined) this.#exitStatus = facts.exitStatus
    if (facts.ready === true && this.#record.ready !== true) {
      next.ready = true
      next.readyVia = via
      delete next.shutdown
      this.#hooks.log(`The guest is ready (${VIA[via]}).`)
    }
    if (facts.shutdown !== undefined && this.#record.shutdown === undefined) {
      next.shutdown = facts.shutdown
      delete next.ready
      delete next.readyVia
      this.#hooks.log(`The guest is shutting down (${facts.shutdown}).`)
    }
    this.#replace(next)
  }

  /** Takes `next` as the record, and says so, when it differs from the current one. */
  #replace(next: GuestRecord): void {
    const keys = Object.keys(next) as (keyof GuestRecord)[]
    if (keys.length === Object.keys(this.#record).length && keys.every((k) => next[k] === this.#record[k])) return
    this.#record = next
    this.#hooks.onChange(next)
  }

  #once(key: string, message: string): void {
    if (this.#said.has(key)) return
    this.#said.add(key)
    this.#hooks.log(message)
  }
}
