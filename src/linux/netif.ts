/**
 * format_ifname(): the names of the host's network interfaces by index,
 * read from /sys/class/net (Node has no if_indextoname()), for `mctl
 * status` and the web console.
 * @module
 */

import { readdirSync, readFileSync } from 'node:fs'

export function interfaceNames(sysClassNet = '/sys/class/net'): Map<number, string> {
  const names = new Map<number, string>()
  let entries: string[]
  try {
    entries = readdirSync(sysClassNet)
  } catch {
    return names
  }
  for (const name of entries) {
    try {
      names.set(Number(readFileSync(`${sysClassNet}/${name}/ifindex`, 'utf8').trim()), name)
    } catch {
      // Gone meanwhile, or not an interface.
    }
  }
  return names
}
