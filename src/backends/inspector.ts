/**
 * Looks into a machine through its leader: the root it sees
 * (/proc/<leader>/root), its user namespace (/proc/<leader>/uid_map) and
 * its network namespace (entered with nsenter to list addresses, as
 * machine_get_addresses() forks into it).
 * @module
 */

import { readlinkSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { execFileAsync } from '../linux/exec-file.ts'
import { FileNotFoundError } from '../protocol/errors.ts'
import { parseEnvFile } from '../core/env-file.ts'
import type { Address, Inspector, ProcessRef, Processes } from '../core/ports.ts'
import { readGuestFileInRoot } from './guest-file.ts'

interface IpAddrInfo {
  family?: string
  local?: string
  scope?: string
  deprecated?: boolean
}

/** RT_SCOPE_* as `ip -j` names them; local_addresses() sorts by these values. */
const SCOPE_ORDER: Record<string, number> = { global: 0, site: 200, link: 253, host: 254, nowhere: 255 }

export function ipv4Bytes(s: string): Uint8Array | undefined {
  const parts = s.split('.')
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined
  return Uint8Array.from(parts.map(Number))
}

export function ipv6Bytes(s: string): Uint8Array | undefined {
  const [head, tail, extra] = s.split('::')
  if (extra !== undefined) return undefined
  const groups = (x: string | undefined): string[] => (x === undefined || x === '' ? [] : x.split(':'))
  const h = groups(head)
  const t = groups(tail)
  const fill = tail === undefined ? 0 : 8 - h.length - t.length
  const all = [...h, ...Array<string>(Math.max(fill, 0)).fill('0'), ...t]
  if (all.length !== 8 || all.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined
  const out = new Uint8Array(16)
  all.forEach((g, i) => { const v = parseInt(g, 16); out[i * 2] = v >> 8; out[i * 2 + 1] = v & 0xff })
  return out
}

/**
 * `ip -j address` output → machined's address list: IPv4 and IPv6 only,
 * without host-scope (loopback) and deprecated addresses, ordered by scope
 * then family, like local_addresses().
 */
export function addressesFromIpJson(json: string): Address[] {
  const links = JSON.parse(json) as { addr_info?: IpAddrInfo[] }[]
  const found: { scope: number; family: 2 | 10; address: Uint8Array }[] = []
  for (const link of links) {
    for (const a of link.addr_info ?? []) {
      if (a.local === undefined || a.deprecated === true) continue
      const scope = SCOPE_ORDER[a.scope ?? 'global'] ?? 0
      if (scope >= SCOPE_ORDER.host!) continue
      const family = a.family === 'inet' ? 2 : a.family === 'inet6' ? 10 : undefined
      if (family === undefined) continue
      const address = family === 2 ? ipv4Bytes(a.local) : ipv6Bytes(a.local)
      if (address !== undefined) found.push({ scope, family, address })
    }
  }
  found.sort((x, y) => x.scope - y.scope || x.family - y.family)
  return found.map(({ family, address }) => ({ family, address }))
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

  constructor(options: { processes: Processes; procRoot?: string }) {
    this.#processes = options.processes
    this.#procRoot = options.procRoot ?? '/proc'
  }

  /**
   * Runs `read` and then checks the leader was the same process all along.
   * A leader that is gone has no /proc entry to look through: ENOENT, as
   * systemd answers.
   */
  async #whileAlive<T>(leader: ProcessRef | undefined, read: () => Promise<T>): Promise<T> {
    if (leader === undefined) return read()
    if (!(await this.#processes.isAlive(leader))) throw new FileNotFoundError()
    let result: T
    try {
      result = await read()
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new FileNotFoundError()
      throw err
    }
    if (!(await this.#processes.isAlive(leader))) throw new FileNotFoundError()
    return result
  }

  async addresses(leader: ProcessRef | undefined): Promise<Address[] | undefined> {
    return this.#whileAlive(leader, async () => {
      let args = ['-j', 'address', 'show']
      if (leader !== undefined) {
        // Magic links naming the namespace ("net:[INODE]"): reading them never blocks, so no trip to a libuv thread.
        const ours = readlinkSync(`${this.#procRoot}/self/ns/net`)
        const theirs = readlinkSync(`${this.#procRoot}/${leader.pid}/ns/net`)
        if (ours === theirs) return undefined
        args = [`--net=${this.#procRoot}/${leader.pid}/ns/net`, '--', 'ip', ...args]
      }
      const { stdout } = await execFileAsync(leader === undefined ? 'ip' : 'nsenter', args, { timeout: 10_000, maxBuffer: 4 << 20 })
      return addressesFromIpJson(stdout)
    })
  }

  async osRelease(leader: ProcessRef | undefined): Promise<Map<string, string> | undefined> {
    return this.#whileAlive(leader, async () => {
      return osReleaseIn(leader === undefined ? '' : `${this.#procRoot}/${leader.pid}/root`)
    })
  }

  async idMaps(leader: ProcessRef): Promise<{ uidMap: string; gidMap: string } | undefined> {
    try {
      const uidMap = await readFile(`${this.#procRoot}/${leader.pid}/uid_map`, 'utf8')
      const gidMap = await readFile(`${this.#procRoot}/${leader.pid}/gid_map`, 'utf8')
      if (!(await this.#processes.isAlive(leader))) return undefined
      return { uidMap, gidMap }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }
}
