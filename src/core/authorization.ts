/**
 * Who may do what. systemd asks polkit; we decide in the daemon itself,
 * because Varlink has no bus policy to lean on. Root may do everything;
 * other users may only read, unless user registration is switched on, in
 * which case they may register machines whose leader they own and then
 * act on those machines only (newer systemd's rule: "Only root may
 * register machines for other users", and the machine's UID= passes
 * polkit's check for its own machine).
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
  /** OpenShell: a program running in a machine. */
  enterMachine: 'org.freedesktop.machine1.shell',
  /** OpenPTY: a bare pty in a machine. */
  openPty: 'org.freedesktop.machine1.open-pty',
  /** OpenLogin: a login prompt in a machine. */
  login: 'org.freedesktop.machine1.login',
  manageImages: 'org.freedesktop.machine1.manage-images',
} as const
export type Action = (typeof ACTIONS)[keyof typeof ACTIONS]

export interface AuthorizationPolicy {
  /** Let unprivileged users register machines whose leader they own. */
  readonly allowUserRegistration: boolean
}

/** What a polkit refusal becomes on the wire: EACCES, whose strerror() systemd sends. */
const DENIED = 'Permission denied'

export class Authorizer {
  readonly #policy: AuthorizationPolicy

  constructor(policy: AuthorizationPolicy) {
    this.#policy = policy
  }

  get allowUserRegistration(): boolean {
    return this.#policy.allowUserRegistration
  }

  /**
   * Throws AccessDeniedError unless `caller` may register a machine whose
   * leader runs as `leaderUid()` (undefined: the leader's owner is
   * unknown); root may register any, so for root the owner is not looked
   * up at all. The ownership test comes first, as in newer systemd's
   * machine_add_from_params(), so a user naming someone else's process
   * learns why.
   */
  async checkRegister(caller: Caller, leaderUid: () => Promise<number | undefined>): Promise<void> {
    if (caller.uid === 0) return
    if ((await leaderUid()) !== caller.uid) throw new AccessDeniedError('Only root may register machines for other users')
    if (!this.#policy.allowUserRegistration) throw new AccessDeniedError(DENIED)
  }

  /**
   * Throws AccessDeniedError unless `caller` may perform `action` on a
   * machine registered by `ownerUid` (undefined: not about a machine).
   */
  check(caller: Caller, action: Action, ownerUid?: number): void {
    if (caller.uid === 0) return
    if (this.#policy.allowUserRegistration && ownerUid !== undefined && ownerUid === caller.uid && action !== ACTIONS.manageImages) return
    throw new AccessDeniedError(DENIED)
  }

  /**
   * Whether `caller` may see the fields of a machine that point into it or
   * at its secrets (RootDirectory, SSHPrivateKeyPath). systemd shows them
   * to everyone; CVE-2016-6349 was exactly that (any user could read the
   * root directories of other users' containers), so only root and the
   * machine's owner see them here. undefined: the caller is not known.
   */
  mayInspect(caller: Caller | undefined, ownerUid: number): boolean {
    return caller !== undefined && (caller.uid === 0 || caller.uid === ownerUid)
  }
}
