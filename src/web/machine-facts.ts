/**
 * What the console shows of one machine, asked of the daemon through the
 * client library: the table's row (GetMachine, its OS and addresses) and
 * `mctl status`'s facts (with the leader's name, the host interfaces, the
 * UID shift, the guest ID of a VM and the unit's process tree, read from
 * the local host as mctl reads them).
 * @module
 */

import type { MachineDetails, MachinedClient } from '../client/types.ts'
import type { CgroupLayout } from '../linux/cgroup-layout.ts'
import { interfaceNames } from '../linux/netif.ts'
import { processComm } from '../linux/proc.ts'
import { cgroupProcesses, locateUnitCgroups, type CgroupProcess } from '../linux/unit-cgroup.ts'
import { vmGuestRecord } from '../linux/vm-guest.ts'
import { describeGuestId } from '../protocol/vm-guest-record.ts'
import type { MachineRow, MachineStatus, ProcessTreeNode, Sample } from './api-types.ts'

/** The daemon-side facts a row is made of, kept with the row for sampling. */
export interface KnownMachine {
  readonly row: MachineRow
  readonly details: MachineDetails
}

function addressText(a: { family: number; address: string }): string {
  return a.address
}

/** The row of machine `name`: GetMachine, then its OS and addresses where the daemon can tell (errors leave them empty). */
export async function fetchRow(client: MachinedClient, name: string, host = ''): Promise<KnownMachine> {
  const details = await client.get(name)
  const [os, addresses] = await Promise.all([
    client.osRelease(name).then((o) => o.PRETTY_NAME ?? o.NAME ?? '', () => ''),
    client.addresses(name).then((list) => list.map(addressText), () => [] as string[]),
  ])
  return { details, row: rowOf(details, os, addresses, host) }
}

export function rowOf(d: MachineDetails, os: string, addresses: readonly string[], host = ''): MachineRow {
  return {
    host, name: d.name, class: d.class, service: d.service, id: d.id, unit: d.unit, leader: d.leader, os, addresses,
    since: Number(d.timestamp.realtime / 1000n),
  }
}

/** The row's fields of a status (or any row with more). */
export function rowPart(r: MachineRow): MachineRow {
  return {
    host: r.host, name: r.name, class: r.class, service: r.service, id: r.id, unit: r.unit, leader: r.leader, os: r.os,
    addresses: r.addresses, since: r.since,
  }
}

export function sameRow(a: MachineRow, b: MachineRow): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

interface TreeBuild {
  readonly cgroup: string
  readonly processes: { pid: number; command: string }[]
  readonly children: Map<string, TreeBuild>
}

/**
 * The unit's processes as the tree `mctl status` draws: each cgroup's
 * processes by PID, then its child cgroups by name; a cgroup with no
 * process anywhere below does not show.
 */
export function processTree(root: string, processes: readonly CgroupProcess[]): ProcessTreeNode {
  const top: TreeBuild = { cgroup: root, processes: [], children: new Map() }
  const prefix = root.endsWith('/') ? root : `${root}/`
  for (const p of processes) {
    let node = top
    const below = p.cgroup.startsWith(prefix) ? p.cgroup.slice(prefix.length) : ''
    for (const part of below === '' ? [] : below.split('/')) {
      let child = node.children.get(part)
      if (child === undefined) node.children.set(part, child = { cgroup: `${node.cgroup}/${part}`, processes: [], children: new Map() })
      node = child
    }
    node.processes.push({ pid: p.pid, command: p.name })
  }
  const finish = (n: TreeBuild): ProcessTreeNode => ({
    cgroup: n.cgroup,
    processes: [...n.processes].sort((a, b) => a.pid - b.pid),
    children: [...n.children.keys()].sort().map((k) => finish(n.children.get(k)!)),
  })
  return finish(top)
}

/** `mctl status NAME`'s facts, read now. */
export async function fetchStatus(client: MachinedClient, layout: CgroupLayout | undefined, name: string, sample: Sample | undefined): Promise<MachineStatus> {
  const { details: d, row } = await fetchRow(client, name)
  const uidShift = await client.uidShift(name).catch(() => null)
  const names = interfaceNames()
  const path = layout === undefined ? undefined : locateUnitCgroups(layout, d.unit, d.leader).path
  const tree = layout === undefined || path === undefined ? undefined : processTree(path, cgroupProcesses(layout, path))
  return {
    ...row,
    state: d.state ?? '',
    rootDirectory: d.rootDirectory,
    interfaces: d.networkInterfaces.map((i) => names.get(i) ?? String(i)),
    uidShift,
    leaderCommand: d.leader > 0 ? processComm(d.leader) ?? '' : '',
    guestId: d.class === 'vm' ? describeGuestId(d.id, vmGuestRecord(d.leader)) ?? '' : '',
    tree: tree ?? null,
    sample: sample ?? null,
  }
}
