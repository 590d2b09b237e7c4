/**
 * A network namespace's addresses as the kernel lists them
 * (native/addon/netlink.c: an RTM_GETADDR dump, off the JavaScript
 * thread). Like addon.ts it imports nothing outside src/native.
 * @module
 */

import { loadAddon } from './addon.ts'

/** One address of the dump: IFA_LOCAL, else IFA_ADDRESS, with its ifaddrmsg. */
export interface KernelAddress {
  /** AF_INET (2) or AF_INET6 (10). */
  readonly family: 2 | 10
  /** RT_SCOPE_*: 0 global, 200 site, 253 link, 254 host, 255 nowhere. */
  readonly scope: number
  /** IFA_F_* bits. */
  readonly flags: number
  readonly ifindex: number
  /** 4 or 16 bytes. */
  readonly address: Uint8Array
}

interface NetlinkAddon {
  localAddresses(netns: string | null, max: number, callback: (err: NodeJS.ErrnoException | undefined, list: KernelAddress[] | null) => void): void
}

/**
 * Every IPv4 and IPv6 address of the network namespace at `netns` (a path
 * such as /proc/PID/ns/net; undefined for the caller's own), in the
 * kernel's order. Rejects with a Node-style system error: from open
 * (ENOENT for a process that is gone), setns (EINVAL for a file that is no
 * network namespace), or recv (ENOBUFS past `max` addresses).
 */
export function localAddresses(netns: string | undefined, max: number): Promise<KernelAddress[]> {
  return new Promise((resolve, reject) => {
    loadAddon<NetlinkAddon>().localAddresses(netns ?? null, max, (err, list) => {
      if (err !== undefined) reject(err)
      else resolve(list ?? [])
    })
  })
}
