/**
 * `list`: list_machines() and show_table() of machinectl.c. One row per
 * machine (the host's ".host" only with --all): name, class, service, the
 * ID and VERSION_ID of its os-release, and its addresses, one per line,
 * cut to --max-addresses lines (1 by default) with "…". Failing lookups of
 * os-release or addresses leave "-", as there.
 * @module
 */

import type { MachineAddress, MachinedClient, MachineListEntry, MachineSummary } from '../../client/types.ts'
import type { VarlinkMachinedClient } from '../../client/varlink.ts'
import { NotSupportedError } from '../../protocol/errors.ts'
import { CliError, describeError } from '../errors.ts'
import { fleetEndpoints, isJsonMode, type CliOptions } from '../options.ts'
import { formatJson } from '../output/json.ts'
import { Table, type Cell } from '../output/table.ts'
import type { Io } from '../io.ts'
import type { VerbContext } from '../verb.ts'

const emptyToNull = (s: string | undefined): Cell => (s === undefined || s === '' ? null : s)

/** One machinectl row; the fleet's list (fleet.ts) builds its rows with it too. */
export function cells(m: MachineSummary, os: Readonly<Record<string, string>> | undefined, addresses: readonly MachineAddress[] | undefined, maxAddresses: number): Cell[] {
  const row = [emptyToNull(m.name), emptyToNull(m.class), emptyToNull(m.service), emptyToNull(os?.ID), emptyToNull(os?.VERSION_ID)]
  if (maxAddresses > 0) row.push(emptyToNull(addresses?.map((a) => a.address).join('\n')))
  return row
}

/** Over D-Bus, two calls per machine, as machinectl makes them (sent at once here rather than in turn: same answers). */
async function rowsOverDbus(client: MachinedClient, machines: readonly MachineSummary[], maxAddresses: number): Promise<Cell[][]> {
  return Promise.all(machines.map(async (m) => {
    const [os, addresses] = await Promise.all([
      client.osRelease(m.name).catch(() => undefined),
      maxAddresses > 0 ? client.addresses(m.name).catch(() => undefined) : Promise.resolve(undefined),
    ])
    return cells(m, os, addresses, maxAddresses)
  }))
}

const shownBy = (options: CliOptions) => (m: MachineSummary): boolean => options.all || !m.name.startsWith('.')

/** The rows of machines listed with their metadata (one Varlink List call). */
export function rowsOf(entries: readonly MachineListEntry[], options: CliOptions): Cell[][] {
  return entries.filter(shownBy(options)).map((e) => cells(e, e.osRelease, e.addresses, options.maxAddresses))
}

async function listRows(ctx: VerbContext, client: MachinedClient, options: CliOptions): Promise<Cell[][]> {
  try {
    let over = client
    if (client.transport === 'varlink') {
      try {
        return rowsOf(await (client as VarlinkMachinedClient).listWithMetadata(), options)
      } catch (err) {
        // An older machined on the socket (systemd's before 257): what it cannot tell there, D-Bus can, unless Varlink was asked for.
        if (!(err instanceof NotSupportedError) || options.transport !== 'auto') throw err
        over = await ctx.connect('dbus')
      }
    }
    const machines = (await over.list()).filter(shownBy(options))
    return await rowsOverDbus(over, machines, options.maxAddresses)
  } catch (err) {
    throw new CliError(`Could not get machines: ${describeError(err)}`)
  }
}

/**
 * show_table(): the table (or its JSON), then "N machines listed." or "No
 * machines." with the legend. `ersatz`: what empty cells read as ("-",
 * TABLE_ERSATZ_DASH, unless the table says otherwise).
 */
export function showTable(table: Table, word: string, options: CliOptions, io: Io, layout: { ersatz?: string } = {}): void {
  if (table.rowCount > 0 || isJsonMode(options.output)) {
    table.sortBy(0)
    if (isJsonMode(options.output)) {
      io.out(formatJson(table.toJson(), options.output))
    } else {
      const limit = options.maxAddresses
      io.out(table.format({
        header: options.legend,
        ersatz: layout.ersatz ?? '-',
        width: options.full ? 'full' : 'auto',
        terminalColumns: io.terminalColumns,
        cellHeightMax: !options.full && limit > 0 && limit !== Infinity ? limit : undefined,
      }))
    }
  }
  if (options.legend) io.out(table.rowCount > 0 ? `\n${table.rowCount} ${word} listed.\n` : `No ${word}.\n`)
}

export async function listMachines(ctx: VerbContext): Promise<number> {
  const { options } = ctx
  const fleet = fleetEndpoints(options, ctx.io.env)
  if (fleet !== undefined) return (await import('./fleet.ts')).listFleet(ctx, fleet)
  const client = await ctx.connect()
  showMachines(await listRows(ctx, client, options), options, ctx.io)
  return 0
}

/** machinectl's table of machines, or its JSON. */
export function showMachines(rows: readonly Cell[][], options: CliOptions, io: Io): void {
  const columns = ['machine', 'class', 'service', 'os', 'version']
  if (options.maxAddresses > 0) columns.push('addresses')
  const table = new Table(columns)
  for (const row of rows) table.addRow(row)
  showTable(table, 'machines', options, io)
}
