/**
 * What a reader makes of the fleet's keys: hosts (one per publisher
 * instance that has its host record) with their machines, built from one
 * range read and kept current by applying watch events. Every key and
 * value is checked (layout.ts, records.ts); what fails is counted and
 * skipped, so a hostile or corrupt entry costs one line of warning, never
 * the view. Nothing is merged: two publishers with one host ID, or two
 * machines with one machine ID on different hosts, are all listed and
 * flagged as duplicates.
 * @module
 */

import { isAscii } from 'node:buffer'
import { parseFleetKey, type HostInstance } from './layout.ts'
import { asBuffer, decodeHostRecord, decodeMachineRecord, type HostRecord, type MachineRecord } from './records.ts'

export interface FleetHost {
  readonly hostId: string
  readonly lease: string
  readonly record: HostRecord
  readonly machines: ReadonlyMap<string, MachineRecord>
  /** Another live publisher uses the same host ID (a cloned /etc/machine-id). */
  readonly duplicateHostId: boolean
}

export interface FleetMachine {
  readonly host: FleetHost
  readonly machine: MachineRecord
  /** A machine on another host has the same machine ID (a cloned VM or container). */
  readonly duplicateId: boolean
}

interface Instance extends HostInstance {
  record: HostRecord | undefined
  readonly machines: Map<string, MachineRecord>
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Keys longer than this are not ours; they are refused before being decoded. */
const MAX_KEY_BYTES = 512

export class FleetView {
  readonly #instances = new Map<string, Instance>()
  /** Entries refused, by key: why. */
  readonly #refused = new Map<string, string>()

  /** A put (`value` given) or a delete of one key under the fleet prefix. */
  apply(key: Uint8Array, value: Uint8Array | undefined): void {
    let text: string
    try {
      if (key.length > MAX_KEY_BYTES) throw new Error('too long')
      // Our keys are ASCII: Latin-1 is then a plain copy, where the decoder checks every byte again.
      const bytes = asBuffer(key)
      text = isAscii(bytes) ? bytes.toString('latin1') : utf8.decode(key)
    } catch {
      const shown = `${Buffer.from(key.subarray(0, 64)).toString('hex')}…`
      if (value === undefined) this.#refused.delete(shown)
      else this.#refused.set(shown, 'the key is not one of ours')
      return
    }
    if (this.#refused.size > 0) this.#refused.delete(text)
    const parsed = parseFleetKey(text)
    if (parsed === undefined) {
      if (value !== undefined) this.#refused.set(text, 'the key is not one of ours')
      return
    }
    const id = `${parsed.instance.hostId}/${parsed.instance.lease}`
    let instance = this.#instances.get(id)
    if (value === undefined) {
      if (instance === undefined) return
      if (parsed.kind === 'host') instance.record = undefined
      else instance.machines.delete(parsed.name)
      if (instance.record === undefined && instance.machines.size === 0) this.#instances.delete(id)
      return
    }
    if (instance === undefined) {
      instance = { ...parsed.instance, record: undefined, machines: new Map() }
      this.#instances.set(id, instance)
    }
    if (parsed.kind === 'host') {
      const r = decodeHostRecord(value)
      if (r.ok) instance.record = r.value
      else { instance.record = undefined; this.#refused.set(text, r.reason) }
    } else {
      const r = decodeMachineRecord(value, parsed.name)
      if (r.ok) instance.machines.set(parsed.name, r.value)
      else { instance.machines.delete(parsed.name); this.#refused.set(text, r.reason) }
    }
    if (instance.record === undefined && instance.machines.size === 0) this.#instances.delete(id)
  }

  /** Entries skipped because they are not valid: key → reason. */
  get refused(): ReadonlyMap<string, string> {
    return this.#refused
  }

  /**
   * Every live host, by hostname then host ID. A publisher's machines show
   * only with its host record (both are written, and expire, together).
   */
  hosts(): FleetHost[] {
    const live = [...this.#instances.values()].filter((i): i is Instance & { record: HostRecord } => i.record !== undefined)
    const perHostId = new Map<string, number>()
    for (const i of live) perHostId.set(i.hostId, (perHostId.get(i.hostId) ?? 0) + 1)
    return live
      .map((i) => ({ hostId: i.hostId, lease: i.lease, record: i.record, machines: i.machines, duplicateHostId: perHostId.get(i.hostId)! > 1 }))
      .sort((a, b) => compare(a.record.hostname, b.record.hostname) || compare(a.hostId, b.hostId) || compare(a.lease, b.lease))
  }

  /** Every machine of every live host, by host then name, with duplicate machine IDs flagged. */
  machines(): FleetMachine[] {
    const hosts = this.hosts()
    const seen = new Map<string, Set<FleetHost>>()
    for (const host of hosts) {
      for (const machine of host.machines.values()) {
        if (machine.id === '') continue
        let on = seen.get(machine.id)
        if (on === undefined) seen.set(machine.id, on = new Set())
        on.add(host)
      }
    }
    const rows: FleetMachine[] = []
    for (const host of hosts) {
      for (const name of [...host.machines.keys()].sort(compare)) {
        const machine = host.machines.get(name)!
        rows.push({ host, machine, duplicateId: machine.id !== '' && seen.get(machine.id)!.size > 1 })
      }
    }
    return rows
  }
}

/** strcmp() order, as machinectl sorts its table. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
