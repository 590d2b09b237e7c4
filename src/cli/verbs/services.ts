/**
 * `start NAME…`, `enable NAME…`, `disable NAME…`: machinectl's
 * start_machine() and enable_machine(), through machined-ts's
 * io.machinedts.Machines (systemd-machined has no such calls: machinectl
 * asks systemd for systemd-nspawn@NAME.service). The same checks and
 * messages: an invalid name, then an image that does not exist, before
 * anything is started; start waits until the machine is registered.
 * @module
 */

import type { MachinedClient } from '../../client/types.ts'
import { hostnameIsValid } from '../../protocol/hostname.ts'
import { CliError, describeError } from '../errors.ts'
import type { VerbContext } from '../verb.ts'

/** make_service_name()'s check, for every name before any is acted on. */
function checkNames(names: readonly string[]): void {
  for (const name of names) if (!hostnameIsValid(name)) throw new CliError(`Invalid machine name ${name}.`)
}

function failure(err: unknown, name: string, what: string): CliError {
  const code = (err as { code?: unknown } | null)?.code
  // image_exists(): machinectl's own words for a missing image.
  if (code === 'NO_SUCH_IMAGE') return new CliError(`Machine image '${name}' does not exist.`)
  // A start that failed says which machine and why itself (what its launcher wrote).
  if (code === 'FAILED') return new CliError(describeError(err))
  return new CliError(`Failed to ${what} machine ${name}: ${describeError(err)}`)
}

async function each(ctx: VerbContext, what: string, act: (client: MachinedClient, name: string) => Promise<void>): Promise<number> {
  const names = ctx.args.slice(1)
  checkNames(names)
  const client = await ctx.connect()
  for (const name of names) {
    try {
      await act(client, name)
    } catch (err) {
      throw failure(err, name, what)
    }
  }
  return 0
}

export function startMachines(ctx: VerbContext): Promise<number> {
  return each(ctx, 'start', (client, name) => client.start(name))
}

/** `enable`/`disable`, told apart by the verb as machinectl does. */
export function enableMachines(ctx: VerbContext): Promise<number> {
  const enable = ctx.args[0] === 'enable'
  return each(ctx, enable ? 'enable' : 'disable', (client, name) => (enable ? client.enable(name) : client.disable(name)))
}
