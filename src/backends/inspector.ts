/**
 * Looks into a machine through its leader: the root it sees
 * (/proc/<leader>/root), its user namespace (/proc/<leader>/uid_map) and
 * its network namespace (its addresses listed by a netlink socket made
 * inside it, where machine_get_addresses() forks into it).
 * @module
 */

import { readlinkSync } from 'node:fs'
import { FileNotFoundError } from '../protocol/errors.ts'
import { parseEnvFile } from '../core/env-file.ts'
import type { Address, Inspector, ProcessRef, Processes } from '../core/ports.ts'
import { localAddresses, type KernelAddress } from '../native/local-addresses.ts'
import { readIdMaps } from '../linux/proc.ts'
import { readGuestFileInRoot } from './guest-file.ts'

/** RT_SCOPE_HOST: local_addresses() leaves out host-scope (loopback) addresses and RT_SCOPE_NOWHERE ones. */
const RT_SCOPE_HOST = 254
const IFA_F_DEPRECATED = 0x20
/** More addresses than this in one namespace fail the call instead of filling the daemon's memory. */
const MAX_ADDRESSES = 65536

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

/**
 * The kernel's list → machined's, as local_addresses() makes it: no
 * deprecated, host-scope or nowhere-scope addresses; IPv4 before IPv6,
 * then by scope (global first), interface index and address.
 */
export function machineAddressesOf(list: readonly KernelAddress[]): Address[] {
  return list
    .filter((a) => (a.flags & IFA_F_DEPRECATED) === 0 && a.scope < RT_SCOPE_HOST)
    .sort((x, y) => x.family - y.family || x.scope - y.scope || x.ifindex - y.ifindex || compareBytes(x.address, y.address))
    .map(({ family, address }) => ({ family, address: Uint8Array.from(address) }))
}

/**
 * The os-release of the tree at `root` ("" for the host's own), as that
 * tree resolves it (os-release(5): /etc/os-release first, then
 * /usr/lib/os-release); undefined when it has neither.
 */
export async function osReleaseIn(root: string): Promise<Map<string, string> | undefined> {
  for (const candidate of ['/etc/os-release', '/usr/lib/os-release']) {
    const text = await readGuestFileInRoot(root, candidate).catch(() => undefined)
    if (text !== undefined) return parseEnvFile(text)
  }
  return undefined
}

export class ProcfsInspector implements Inspector {
  readonly #processes: Processes
  readonly #procRoot: string
  #ownNetns: string | undefined

  constructor(options: { processes: Processes; procRoot?: string }) {
    this.#processes = options.processes
    this.#procRoot = options.procRoot ?? '/proc'
  }

  /**
   * Runs `read` and then checks the leader was the same process all along.
   * A leader that is gone has no /proc entry to look through: ENOENT, as
   * systemd answers. One check, after the read, is enough: a leader alive
   * then was alive before, so /proc/PID was its all along. A read that
   * failed is checked too, so a leader gone before or during it is
   * FileNotFound whatever the read ran into. (A check before the read as
   * well cost a /proc/PID/stat read per call, five per machine in a List
   * with its metadata.)
   */
  async #whileAlive<T>(leader: ProcessRef | undefined, read: () => Promise<T>): Promise<T> {
    if (leader === undefined) return read()
    let result: T
    try {
      result = await read()
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || !(await this.#processes.isAlive(leader))) throw new FileNotFoundError()
      throw err
    }
    if (!(await this.#processes.isAlive(leader))) throw new FileNotFoundError()
    return result
  }

  async addresses(leader: ProcessRef | undefined): Promise<Address[] | undefined> {
    return this.#whileAlive(leader, async () => {
      if (leader === undefined) return machineAddressesOf(await localAddresses(undefined, MAX_ADDRESSES))
      // Magic links naming the namespace ("net:[INODE]"): reading them never blocks, so no trip to a libuv thread.
      // Ours is read once: no thread of the daemon's that runs JavaScript ever changes namespace.
      const ours = this.#ownNetns ??= readlinkSync(`${this.#procRoot}/self/ns/net`)
      const theirs = readlinkSync(`${this.#procRoot}/${leader.pid}/ns/net`)
      if (ours === theirs) return undefined
      return machineAddressesOf(await localAddresses(`${this.#procRoot}/${leader.pid}/ns/net`, MAX_ADDRESSES))
    })
  }

  async osRelease(leader: ProcessRef | undefined): Promise<Map<string, string> | undefined> {
    return this.#whileAlive(leader, async () => {
      return osReleaseIn(leader === undefined ? '' : `${this.#procRoot}/${leader.pid}/root`)
    })
  }

  async idMaps(leader: ProcessRef): Promise<{ uidMap: string; gidMap: string } | undefined> {
    const maps = readIdMaps(leader.pid, this.#procRoot)
    if (maps === undefined || !(await this.#processes.isAlive(leader))) return undefined
    return maps
  }
}
