/**
 * `list` and `status` over the fleet (--fleet=URL,… or $MACHINED_FLEET_ETCD):
 * every live host's machines, read from etcd in one consistent range read
 * (src/fleet/reader.ts) instead of asking the local machined. The table is
 * machinectl's with a HOST column first; JSON objects carry `host` (the
 * host's kernel hostname) and `hostId` (its machine ID) beside machinectl's
 * fields. Nothing is merged: machines that share a machine ID across
 * hosts, and hosts that share a host ID, are listed each and flagged
 * (`duplicateId`, `duplicateHostId`, and a warning on stderr). Entries in
 * etcd that are not valid are skipped with one warning line.
 * @module
 */

import type { Etcd3 } from 'etcd3'
import { etcdConfigFrom, etcdErrorText, FleetConfigError, openEtcd, settingsFromEnv } from '../../fleet/etcd.ts'
import { FLEET_PREFIX } from '../../fleet/layout.ts'
import { readFleet } from '../../fleet/reader.ts'
import type { FleetHost, FleetMachine, FleetView } from '../../fleet/view.ts'
import { CliError } from '../errors.ts'
import { isJsonMode, type CliOptions } from '../options.ts'
import { formatJson, type JsonValue } from '../output/json.ts'
import { Table } from '../output/table.ts'
import { formatTimestamp, formatTimestampRelative } from '../output/timestamp.ts'
import type { Io } from '../io.ts'
import type { VerbContext } from '../verb.ts'
import { cells } from './list.ts'

function open(endpoints: string, options: CliOptions, env: NodeJS.ProcessEnv): Etcd3 {
  const f = options.fleetEtcd
  try {
    const settings = settingsFromEnv({ ca: f.ca, cert: f.cert, key: f.key, user: f.user, passwordFile: f.passwordFile }, env)
    return openEtcd(etcdConfigFrom({ ...settings, endpoints }, env, '--fleet'))
  } catch (err) {
    if (err instanceof FleetConfigError) throw new CliError(err.message)
    throw err
  }
}

async function read(ctx: VerbContext, endpoints: string): Promise<FleetView> {
  const etcd = open(endpoints, ctx.options, ctx.io.env)
  try {
    const { view } = await readFleet(etcd)
    warnRefused(view, ctx.io)
    return view
  } catch (err) {
    throw new CliError(`Could not read the fleet from etcd (${endpoints}): ${etcdErrorText(err)}`)
  } finally {
    etcd.close()
  }
}

function warnRefused(view: FleetView, io: Io): void {
  const refused = view.refused
  if (refused.size === 0) return
  const [key, reason] = refused.entries().next().value!
  // The key is anybody's bytes: no control character of it reaches the terminal.
  const shown = key.slice(0, 200).replace(/\p{Cc}/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
  io.err(`Ignored ${refused.size} invalid ${refused.size === 1 ? 'entry' : 'entries'} under ${FLEET_PREFIX} in etcd ("${shown}": ${reason}).\n`)
}

/** --host=: a hostname, or a host ID (machine ID). */
function onHost(m: FleetMachine, host: string | undefined): boolean {
  return host === undefined || m.host.record.hostname === host || m.host.hostId === host
}

/** One stderr line per machine ID found on more than one host, and per host ID used by more than one host. */
function warnDuplicates(rows: readonly FleetMachine[], hosts: readonly FleetHost[], io: Io): void {
  const byId = new Map<string, FleetMachine[]>()
  for (const r of rows) if (r.duplicateId) byId.set(r.machine.id, [...(byId.get(r.machine.id) ?? []), r])
  for (const [id, list] of byId) {
    io.err(`Warning: machine ID ${id} is used on more than one host: ${list.map((r) => `${r.machine.name} on ${r.host.record.hostname}`).join(', ')} (a cloned machine?).\n`)
  }
  const hostIds = new Map<string, Set<string>>()
  for (const h of hosts) if (h.duplicateHostId) hostIds.set(h.hostId, (hostIds.get(h.hostId) ?? new Set()).add(h.record.hostname))
  for (const [id, names] of hostIds) {
    io.err(`Warning: host ID ${id} is published by more than one host (${[...names].join(', ')}): a cloned /etc/machine-id?\n`)
  }
}

export async function listFleet(ctx: VerbContext, endpoints: string): Promise<number> {
  const { options, io } = ctx
  const view = await read(ctx, endpoints)
  const rows = view.machines().filter((m) => onHost(m, options.host) && (options.all || !m.machine.name.startsWith('.')))
  const columns = ['machine', 'class', 'service', 'os', 'version']
  if (options.maxAddresses > 0) columns.push('addresses')
  const cellsOf = (r: FleetMachine): ReturnType<typeof cells> => cells(
    { name: r.machine.name, class: r.machine.class ?? '', service: r.machine.service },
    r.machine.osRelease, r.machine.addresses, options.maxAddresses,
  )
  if (isJsonMode(options.output)) {
    // machinectl's fields as its table_to_json() names them, after the host's.
    const objects: JsonValue[] = rows.map((r) => {
      const row = cellsOf(r)
      const o: Record<string, JsonValue> = { host: r.host.record.hostname, hostId: r.host.hostId }
      for (let i = 0; i < columns.length; i++) {
        const cell = row[i] ?? null
        o[columns[i]!] = cell !== null && typeof cell === 'object' ? cell.json : cell
      }
      o.duplicateId = r.duplicateId
      o.duplicateHostId = r.host.duplicateHostId
      return o
    })
    io.out(formatJson(objects, options.output))
  } else if (rows.length > 0) {
    const table = new Table(['host', ...columns])
    for (const r of rows) {
      const row = cellsOf(r)
      row.unshift(r.host.record.hostname)
      table.addRow(row)
    }
    table.sortBy(0, 1)
    const limit = options.maxAddresses
    io.out(table.format({
      header: options.legend, ersatz: '-', width: options.full ? 'full' : 'auto', terminalColumns: io.terminalColumns,
      cellHeightMax: !options.full && limit > 0 && limit !== Infinity ? limit : undefined,
    }))
  }
  if (options.legend) {
    const hosts = options.host === undefined ? view.hosts().length : new Set(rows.map((r) => r.host)).size
    io.out(rows.length > 0 ? `\n${rows.length} machines listed on ${hosts} ${hosts === 1 ? 'host' : 'hosts'}.\n` : 'No machines.\n')
  }
  warnDuplicates(rows, view.hosts().filter((h) => options.host === undefined || h.record.hostname === options.host || h.hostId === options.host), io)
  return 0
}

/** print_machine_status_info()'s lines that a record can answer, after a "Host:" line; interface indexes stay numbers (they are the remote host's). */
function statusText(r: FleetMachine, env: NodeJS.ProcessEnv): string {
  const m = r.machine
  let out = `${m.name}${m.id === '' ? '' : `(${m.id})`}\n`
  out += `\t    Host: ${r.host.record.hostname} (${r.host.hostId})\n`
  const realtime = BigInt(m.timestamp)
  const since = formatTimestampRelative(realtime)
  const at = formatTimestamp(realtime, env)
  if (since !== undefined) out += `\t   Since: ${at ?? 'n/a'}; ${since}\n`
  else if (at !== undefined) out += `\t   Since: ${at}\n`
  if (m.leader > 0) out += `\t  Leader: ${m.leader}\n`
  if (m.service !== '') out += `\t Service: ${m.service}${m.class !== undefined ? `; class ${m.class}` : ''}\n`
  else if (m.class !== undefined) out += `\t   Class: ${m.class}\n`
  if (m.rootDirectory !== '') out += `\t    Root: ${m.rootDirectory}\n`
  if (m.networkInterfaces.length > 0) out += `\t   Iface: ${m.networkInterfaces.join(' ')}\n`
  if (m.addresses.length > 0) out += `\t Address: ${m.addresses.map((a) => a.address).join('\n\t          ')}\n`
  if (m.osRelease.PRETTY_NAME !== undefined) out += `\t      OS: ${m.osRelease.PRETTY_NAME}\n`
  if (m.unit !== '') out += `\t    Unit: ${m.unit}\n`
  if (r.duplicateId) out += `\t Warning: machine ID ${m.id} is used on more than one host\n`
  if (r.host.duplicateHostId) out += `\t Warning: host ID ${r.host.hostId} is published by more than one host\n`
  return out
}

/** `status NAME…` over the fleet: every machine of that name (on --host= only, if given), a blank line between them. */
export async function statusFleet(ctx: VerbContext, endpoints: string): Promise<number> {
  const { args, options, io } = ctx
  const view = await read(ctx, endpoints)
  const all = view.machines()
  let code = 0
  let first = true
  for (const name of args.slice(1)) {
    const found = all.filter((m) => m.machine.name === name && onHost(m, options.host))
    if (found.length === 0) {
      io.err(`Could not get path to machine: No machine '${name}' known${options.host === undefined ? '' : ` on host ${options.host}`} in the fleet\n`)
      code = 1
      continue
    }
    for (const m of found) {
      if (!first) io.out('\n')
      first = false
      io.out(statusText(m, io.env))
    }
  }
  return code
}
