/**
 * `show [NAME…]` and `status NAME…`: show_machine() of machinectl.c.
 * Without a name, `show` prints the Manager's properties. Machines are
 * looked up one after the other and the first unknown name ends the run
 * with "Could not get path to machine: …" (what was printed before stays);
 * a blank line separates machines.
 * @module
 */

import { CliError, describeError } from '../errors.ts'
import { findMachine, managerProperties } from '../machine-properties.ts'
import { fleetEndpoints } from '../options.ts'
import { formatProperties, type TypedProperty } from '../output/properties.ts'
import type { VerbContext } from '../verb.ts'
import { printStatus } from './status.ts'

export async function showMachine(ctx: VerbContext): Promise<number> {
  const { args, options, io } = ctx
  // machinectl tells the two verbs apart by the name they were called with.
  const properties = !args[0]!.includes('status')
  const fleet = properties ? undefined : fleetEndpoints(options, io.env)
  if (fleet !== undefined) return (await import('./fleet.ts')).statusFleet(ctx, fleet)
  const client = await ctx.connect()
  const flags = { showEmpty: options.showEmpty, onlyValue: options.onlyValue }
  let newLine = false
  let code = 0
  const print = (list: TypedProperty[]): void => {
    if (newLine) io.out('\n')
    newLine = true
    io.out(formatProperties(list, options.properties, flags))
  }

  if (properties && args.length <= 1) {
    print(await managerProperties(client).catch((err: unknown) => {
      if (err instanceof CliError) throw err
      throw new CliError(`Could not get properties: ${describeError(err)}`)
    }))
  }
  for (const name of args.slice(1)) {
    const machine = await findMachine(client, name)
    let list: TypedProperty[]
    try {
      list = await machine.properties()
    } catch (err) {
      // machinectl goes on with the next machine and exits with the last one's result.
      if (properties) { if (newLine) io.out('\n'); newLine = true }
      io.err(`Could not get properties: ${describeError(err)}\n`)
      code = 1
      continue
    }
    code = 0
    if (properties) print(list)
    else {
      if (newLine) io.out('\n')
      newLine = true
      await printStatus(client, list, ctx)
    }
  }
  return code
}
