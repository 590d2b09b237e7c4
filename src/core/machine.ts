/**
 * The Machine object (systemd's machine.c): what is registered, nothing
 * about any wire format. The Manager owns every Machine and is the only
 * one that changes its state.
 * @module
 */

import type { MachineClass, MachineState } from '../protocol/vocabulary.ts'
import type { ProcessHandle, ProcessRef, UnitRef } from './ports.ts'

export interface DualTimestamp {
  /** CLOCK_REALTIME, µs. */
  readonly realtime: bigint
  /** CLOCK_MONOTONIC, µs. */
  readonly monotonic: bigint
}

export interface MachineInit {
  readonly name: string
  /** 16 bytes, or all zeros when the caller gave none (SD_ID128_NULL). */
  readonly id: Uint8Array
  readonly service: string
  readonly class: MachineClass | undefined
  readonly leader: ProcessRef
  readonly rootDirectory: string
  readonly netifs: readonly number[]
  readonly timestamp: DualTimestamp
  /** uid of whoever registered it (the owner, for authorisation). */
  readonly ownerUid: number
}

export class Machine {
  readonly name: string
  readonly id: Uint8Array
  readonly service: string
  readonly class: MachineClass | undefined
  readonly leader: ProcessRef
  readonly rootDirectory: string
  readonly netifs: readonly number[]
  /** The timestamp's two halves, kept in the machine itself (no object of their own: 10,000 machines). */
  readonly #realtime: bigint
  readonly #monotonic: bigint
  readonly ownerUid: number
  /** The unit the machine's processes live in; set once it exists. */
  unit: UnitRef | undefined = undefined
  /** machined created the unit (Create*), so it stops and removes it. */
  ownsUnit = false
  state: MachineState = 'opening'
  /** The leader's pidfd while the machine is linked: set and cleared by Leaders (leaders.ts) only. */
  leaderHandle: ProcessHandle | undefined = undefined

  constructor(init: MachineInit) {
    this.name = init.name
    this.id = init.id
    this.service = init.service
    this.class = init.class
    this.leader = init.leader
    this.rootDirectory = init.rootDirectory
    this.netifs = init.netifs
    this.#realtime = init.timestamp.realtime
    this.#monotonic = init.timestamp.monotonic
    this.ownerUid = init.ownerUid
  }

  /** When it was registered. */
  get timestamp(): DualTimestamp {
    return { realtime: this.#realtime, monotonic: this.#monotonic }
  }

  /** The id as systemd prints it: 32 lower-case hex digits, or '' for none. */
  get idString(): string {
    return idToString(this.id)
  }
}

export const NULL_ID = new Uint8Array(16)

/** The network interfaces of a machine that has none: one array for them all. */
export const NO_NETIFS: readonly number[] = Object.freeze([])

export function idToString(id: Uint8Array): string {
  if (id.every((b) => b === 0)) return ''
  return Array.from(id, (b) => b.toString(16).padStart(2, '0')).join('')
}

export function idFromString(s: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F]{32}$/.test(s)) return undefined
  const out = new Uint8Array(16)
  for (let i = 0; i < 16; i++) out[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16)
  return out
}
