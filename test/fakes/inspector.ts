/**
 * Looking into machines, in memory (the Inspector port): canned answers
 * for every live leader and for the host. A leader that is gone has no
 * /proc entry to look through, as with the real inspector: its addresses
 * and os-release are FileNotFound, its ID maps undefined.
 * @module
 */

import { FileNotFoundError } from '../../src/protocol/errors.ts'
import type { Address, Inspector, ProcessRef } from '../../src/core/ports.ts'
import type { FakeProcesses } from './processes.ts'

/** What /proc/PID/uid_map says of a process in the initial user namespace. */
export const IDENTITY_MAP = '         0          0 4294967295\n'

export class FakeInspector implements Inspector {
  readonly #processes: FakeProcesses
  /** Canned answers; `undefined` means "none" as the port defines it. */
  addressList: Address[] | undefined = undefined
  osReleaseFields: Map<string, string> | undefined = undefined
  /** Every live leader's maps; the initial user namespace's identity map unless a test sets others. */
  maps: { uidMap: string; gidMap: string } | undefined = { uidMap: IDENTITY_MAP, gidMap: IDENTITY_MAP }

  constructor(processes: FakeProcesses) {
    this.#processes = processes
  }

  async #checkAlive(leader: ProcessRef | undefined): Promise<void> {
    if (leader !== undefined && !(await this.#processes.isAlive(leader))) throw new FileNotFoundError()
  }

  async addresses(leader: ProcessRef | undefined): Promise<Address[] | undefined> {
    await this.#checkAlive(leader)
    return this.addressList
  }

  async osRelease(leader: ProcessRef | undefined): Promise<Map<string, string> | undefined> {
    await this.#checkAlive(leader)
    return this.osReleaseFields
  }

  async idMaps(leader: ProcessRef): Promise<{ uidMap: string; gidMap: string } | undefined> {
    return (await this.#processes.isAlive(leader)) ? this.maps : undefined
  }
}
