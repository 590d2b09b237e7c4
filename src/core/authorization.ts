/**
 * Who may do what. systemd asks polkit; we decide in the daemon itself,
 * because Varlink has no bus policy to lean on. Root may do everything;
 * other users may only read, unless user registration is switched on, in
 * which case they may register machines whose leader they own and then
 * act on those machines only.
 * @module
 */

import { AccessDeniedError } from '../protocol/errors.ts'

/** Identity of whoever sent a call, as the transport learnt it from the kernel. */
export interface Caller {
  readonly uid: number
  /** undefined when the transport cannot tell (the bus did not say). */
  readonly pid: number | undefined
}

/** Polkit action names systemd uses for the same checks. */
export const ACTIONS = {
  createMachine: 'org.freedesktop.machine1.create-machine',
  manageMachines: 'org.freedesktop.machine1.manage-machines',
} as const
export type Action = (typeof ACTIONS)[keyof typeof ACTIONS]

export interface AuthorizationPolicy {
  /** Let unprivileged users register machines whose leader they own. */
  readonly allowUserRegistration: boolean
}

export class Authorizer {
  readonly #policy: AuthorizationPolicy

  constructor(policy: AuthorizationPolicy) {
    this.#policy = policy
  }

  /**
   * Throws AccessDeniedError unless `caller` may perform `action`.
   * `ownerUid` is the registered owner of the machine acted on, or, for a
   * registration, the owner of the leader process.
   */
  check(caller: Caller, action: Action, ownerUid?: number): void {
    if (caller.uid === 0) return
    if (this.#policy.allowUserRegistration && ownerUid !== undefined && ownerUid === caller.uid) return
    throw new AccessDeniedError(`Access denied to ${action} for uid ${caller.uid}`)
  }
}
