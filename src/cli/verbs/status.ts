/**
 * The body of `status NAME`: print_machine_status_info() of machinectl.c,
 * line by line (tabs and spacing are machinectl's, including the odd
 * "  UID Shift:" line). Below "Unit:" machinectl asks systemd1 for the
 * unit's cgroup and processes; with no systemd1 it prints "Failed to query
 * unit control group path: …" instead. mctl reads the unit's processes from
 * the cgroup file system and prints them in the same tree form, and prints
 * nothing when it cannot find the cgroup. The journal lines machinectl adds
 * on systemd hosts are not shown. For a VM run by machined-vmspawn, two
 * lines machinectl does not have, from what the launcher learnt of its
 * guest (docs/vm-guest-protocol.md): "Guest:" says whether the guest is
 * ready or shutting down, "Guest ID:" whether it took the machine's Id as
 * its machine ID; both are left out for every other machine. For a machine
 * run from an image of the pool, "Image:" after "Root:" names the image
 * (and where it is: for a raw or ephemeral image, Root is only where it is
 * mounted).
 * @module
 */

import type { MachinedClient, MachineAddress } from '../../client/types.ts'
import { describeGuestId, describeGuestState } from '../../protocol/vm-guest-record.ts'
import { processComm } from '../../linux/proc.ts'
import { CliError } from '../errors.ts'
import { unitProcesses } from '../host/cgroup.ts'
import { interfaceNames } from '../../linux/netif.ts'
import { vmGuestRecord } from '../../linux/vm-guest.ts'
import { formatProcessTree } from '../output/cgroup-tree.ts'
import type { TypedProperty } from '../output/properties.ts'
import { formatTimestamp, formatTimestampRelative } from '../output/timestamp.ts'
import type { VerbContext } from '../verb.ts'

/** MachineStatusInfo: what bus_map_all_properties() fills in; empty strings count as unset. */
interface StatusInfo {
  name?: string
  id?: string
  class?: string
  service?: string
  unit?: string
  rootDirectory?: string
  /** machined-ts's: the pool image it runs from. */
  imageName?: string
  imagePath?: string
  leader: number
  realtime: bigint
  netif: number[]
}

function mapProperties(list: readonly TypedProperty[]): StatusInfo {
  const info: StatusInfo = { leader: 0, realtime: 0n, netif: [] }
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)
  for (const { name, value } of list) {
    switch (name) {
      case 'Name': { const s = str(value); if (s !== undefined) info.name = s; break }
      case 'Class': { const s = str(value); if (s !== undefined) info.class = s; break }
      case 'Service': { const s = str(value); if (s !== undefined) info.service = s; break }
      case 'Unit': { const s = str(value); if (s !== undefined) info.unit = s; break }
      case 'RootDirectory': { const s = str(value); if (s !== undefined) info.rootDirectory = s; break }
      case 'ImageName': { const s = str(value); if (s !== undefined) info.imageName = s; break }
      case 'ImagePath': { const s = str(value); if (s !== undefined) info.imagePath = s; break }
      case 'Leader': info.leader = Number(value); break
      case 'Timestamp': info.realtime = BigInt(value as bigint); break
      case 'Id': {
        const bytes = value as Uint8Array
        // bus_map_id128(): no bytes is "no id", 16 are one, anything else is an error.
        if (bytes.length === 16) {
          if (bytes.some((b) => b !== 0)) info.id = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
        } else if (bytes.length !== 0) throw new CliError('Could not get properties: Invalid argument')
        break
      }
      case 'NetworkInterfaces': info.netif = [...(value as number[])]; break
      default: break
    }
  }
  return info
}

/** call_get_addresses() with its two prefixes: IPv6 addresses get "%IFINDEX" when the machine has exactly one known interface. */
function addressLines(addresses: readonly MachineAddress[], ifindex: number): string {
  return addresses.map((a) => `${a.address}${a.family === 10 && ifindex > 0 ? `%${ifindex}` : ''}`).join('\n\t          ')
}

export async function printStatus(client: MachinedClient, list: readonly TypedProperty[], ctx: VerbContext): Promise<void> {
  const i = mapProperties(list)
  const name = i.name ?? ''
  // The daemon is asked for all three at once; machinectl asks in turn, and prints the same.
  const [addresses, os, shift] = await Promise.all([
    client.addresses(name).catch(() => undefined),
    client.osRelease(name).catch(() => undefined),
    client.uidShift(name).catch(() => undefined),
  ])
  let out = `${i.name ?? 'n/a'}${i.id !== undefined ? `(${i.id})` : ''}\n`
  const since = formatTimestampRelative(i.realtime)
  const at = formatTimestamp(i.realtime, ctx.io.env)
  if (since !== undefined) out += `\t   Since: ${at ?? 'n/a'}; ${since}\n`
  else if (at !== undefined) out += `\t   Since: ${at}\n`
  if (i.leader > 0) {
    const comm = processComm(i.leader)
    out += `\t  Leader: ${i.leader}${comm === undefined ? '' : ` (${comm})`}\n`
  }
  if (i.service !== undefined) out += `\t Service: ${i.service}${i.class !== undefined ? `; class ${i.class}` : ''}\n`
  else if (i.class !== undefined) out += `\t   Class: ${i.class}\n`
  if (i.rootDirectory !== undefined) out += `\t    Root: ${i.rootDirectory}\n`
  if (i.imageName !== undefined) out += `\t   Image: ${i.imageName}${i.imagePath === undefined ? '' : ` (${i.imagePath})`}\n`
  let ifindex = -1
  if (i.netif.length > 0) {
    const names = interfaceNames()
    out += '\t   Iface:'
    for (const n of i.netif) {
      const ifname = names.get(n)
      if (ifname !== undefined) {
        out += ` ${ifname}`
        ifindex = ifindex < 0 ? n : 0
      } else out += ` ${n}`
    }
    out += '\n'
  }
  if (addresses !== undefined && addresses.length > 0) out += `\t Address: ${addressLines(addresses, ifindex)}\n`
  if (os?.PRETTY_NAME !== undefined) out += `\t      OS: ${os.PRETTY_NAME}\n`
  if (shift !== undefined && shift !== 0) out += `  UID Shift: ${shift}\n`
  const guest = i.class === 'vm' && i.leader > 0 ? vmGuestRecord(i.leader) : undefined
  const guestState = describeGuestState(guest)
  if (guestState !== undefined) out += `\t   Guest: ${guestState}\n`
  const guestId = describeGuestId(i.id ?? '', guest)
  if (guestId !== undefined) out += `\tGuest ID: ${guestId}\n`
  if (i.unit !== undefined) {
    out += `\t    Unit: ${i.unit}\n`
    const found = unitProcesses(i.unit, i.leader)
    if (found !== undefined) {
      const c = ctx.io.terminalColumns
      const columns = ctx.options.full || c === undefined ? 0 : c > 18 ? c - 18 : c
      out += formatProcessTree(found.processes, found.cgroup, '\t\t  ', columns)
    }
  }
  ctx.io.out(out)
}
