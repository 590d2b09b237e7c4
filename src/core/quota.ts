/**
 * How many machines may be registered: in all, and per registering UID.
 * A place is reserved before a registration does any work and handed back
 * when the registration fails or the machine goes, so concurrent
 * registrations cannot overshoot either limit. Root is bounded only by the
 * total: root is the administrator, and the total already protects the
 * daemon; everybody else (only with --allow-user-registration) gets a
 * share, so one user cannot take every place.
 * @module
 */

import { LimitsExceededError } from '../protocol/errors.ts'

export interface ManagerLimits {
  /** Registered machines in all (.host not counted). */
  readonly maxMachines: number
  /** Machines one UID other than root may have registered at once. */
  readonly maxMachinesPerUid?: number
  /** Long-running operations under way at once (OPERATIONS_MAX). */
  readonly maxOperations?: number
}

export const DEFAULT_LIMITS = { maxMachines: 65536, maxMachinesPerUid: 1024, maxOperations: 64 } as const satisfies Required<ManagerLimits>

export class MachineQuota {
  readonly #max: number
  readonly #maxPerUid: number
  readonly #perUid = new Map<number, number>()
  #total = 0

  constructor(limits: ManagerLimits) {
    this.#max = limits.maxMachines
    this.#maxPerUid = limits.maxMachinesPerUid ?? DEFAULT_LIMITS.maxMachinesPerUid
  }

  get total(): number {
    return this.#total
  }

  used(uid: number): number {
    return this.#perUid.get(uid) ?? 0
  }

  /** Takes a place for a machine registered by `uid`; throws LimitsExceededError when there is none. */
  reserve(uid: number): void {
    if (this.#total >= this.#max) throw new LimitsExceededError(`Too many machines registered (${this.#max})`)
    if (uid !== 0 && this.used(uid) >= this.#maxPerUid) {
      throw new LimitsExceededError(`Too many machines registered by UID ${uid} (${this.#maxPerUid})`)
    }
    this.#add(uid)
  }

  /** Takes a place whatever the limits say: a machine reloaded at start-up is kept even if the limits shrank. */
  force(uid: number): void {
    this.#add(uid)
  }

  release(uid: number): void {
    this.#total = Math.max(0, this.#total - 1)
    const n = this.used(uid) - 1
    if (n <= 0) this.#perUid.delete(uid)
    else this.#perUid.set(uid, n)
  }

  #add(uid: number): void {
    this.#total++
    this.#perUid.set(uid, this.used(uid) + 1)
  }
}
