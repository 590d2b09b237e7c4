/**
 * --network-veth: a virtual Ethernet pair between the host and the
 * container, as nspawn makes it: "ve-NAME" on the host, "host0" inside.
 * Made with iproute2 while the container's PID 1 waits for "go" (its
 * network namespace exists by then); PID 1 brings host0 up once it may go
 * on, the host end is brought up here. The pair goes with the container's
 * network namespace, so nothing is left to remove.
 * @module
 */

import { readFileSync } from 'node:fs'
import { execFileAsync } from '../linux/exec-file.ts'

/** IFNAMSIZ - 1. */
const IFNAME_MAX = 15

/**
 * "ve-" and the machine name; a name too long for an interface keeps its
 * first characters and ends in a hash of the whole, so two long names that
 * start alike still differ (nspawn shortens the same way, with its own hash).
 */
export function vethName(machine: string): string {
  const full = `ve-${machine}`
  if (full.length <= IFNAME_MAX) return full
  let h = 0x811c9dc5 // FNV-1a, 32 bit
  for (const c of full) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0
  return `${full.slice(0, IFNAME_MAX - 4)}${(h & 0xffff).toString(16).padStart(4, '0')}`
}

/** Makes the pair (host0 in the network namespace of `pid`), brings the host end up, and returns its ifindex. */
export async function createVeth(machine: string, pid: number): Promise<{ name: string; ifindex: number }> {
  const name = vethName(machine)
  try {
    await execFileAsync('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', 'host0', 'netns', String(pid)], { timeout: 10_000 })
    await execFileAsync('ip', ['link', 'set', name, 'up'], { timeout: 10_000 })
  } catch (err) {
    const detail = (err as { stderr?: string }).stderr?.trim() || (err as Error).message
    throw new Error(`Failed to add new veth interfaces (${name}, host0): ${detail}`, { cause: err })
  }
  const ifindex = Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim())
  return { name, ifindex }
}
