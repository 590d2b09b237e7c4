/**
 * What the console shows of one machine, asked of the daemon through the
 * client library: the table's row (GetMachine, its OS and addresses) and
 * `mctl status`'s facts (with the leader's name, the host interfaces, the
 * UID shift, the guest ID of a VM and the unit's process tree, read from
 * the local host as mctl reads them).
 * @module
 */

import type { MachineDetails, MachinedClient } from '../client/types.ts'
import type { MachineRow, MachineStatus, ProcessTreeNode, Sample, TreeProcess } from './api-types.ts'
import { machineCgroups, machineProcessTree, type CgroupMounts, type CgroupTree } from './cgroup-stats.ts'
import { guestIdLine, interfaceNames, processCmdline, processComm } from './proc-readers.ts'

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

function toTreeNode(t: CgroupTree<TreeProcess>): ProcessTreeNode {
  return { cgroup: t.cgroup, processes: [...t.processes].sort((a, b) => a.pid - b.pid), children: t.children.map(toTreeNode) }
}

/** `mctl status NAME`'s facts, read now. */
export async function fetchStatus(client: MachinedClient, mounts: CgroupMounts, name: string, sample: Sample | undefined): Promise<MachineStatus> {
  const { details: d, row } = await fetchRow(client, name)
  const uidShift = await client.uidShift(name).catch(() => null)
  const names = interfaceNames()
  const tree = d.unit === '' ? undefined : machineProcessTree(mounts, machineCgroups(mounts, d.unit, d.leader), (pid) => {
    const command = processCmdline(pid)
    return command === undefined ? undefined : { pid, command }
  })
  return {
    ...row,
    state: d.state ?? '',
    rootDirectory: d.rootDirectory,
    interfaces: d.networkInterfaces.map((i) => names.get(i) ?? String(i)),
    uidShift,
    leaderCommand: d.leader > 0 ? processComm(d.leader) ?? '' : '',
    guestId: guestIdLine(d.class, d.id, d.leader),
    tree: tree === undefined ? null : toTreeNode(tree),
    sample: sample ?? null,
  }
}
