/**
 * `kill`, `poweroff`, `reboot` and `terminate` (kill_machine(),
 * poweroff_machine(), reboot_machine(), terminate_machine() of
 * machinectl.c). Machines are handled in order; the first failure ends the
 * run. poweroff sends SIGRTMIN+4 to the leader (what systemd as a
 * container's PID 1 takes as "power off"), reboot SIGINT (sysvinit and
 * systemd alike).
 * @module
 */

import type { KillWhom } from '../../protocol/vocabulary.ts'
import { CliError, describeError } from '../errors.ts'
import { SIGNAL_POWEROFF, SIGNAL_REBOOT } from '../../protocol/signals.ts'
import type { VerbContext } from '../verb.ts'

async function killEach(ctx: VerbContext, whom: string, signal: number): Promise<number> {
  const client = await ctx.connect()
  for (const name of ctx.args.slice(1)) {
    try {
      // An unknown "whom" goes to the daemon unchecked, as from machinectl: its answer is the error.
      await client.kill(name, { whom: whom as KillWhom, signal })
    } catch (err) {
      // Varlink names the bad parameter only; word it as the D-Bus reply does.
      const bad = (err as { code?: unknown; parameter?: unknown })
      const text = bad.code === 'INVALID_ARGS' && bad.parameter === 'whom' ? `Invalid kill parameter '${whom}'` : describeError(err)
      throw new CliError(`Could not kill machine: ${text}`)
    }
  }
  return 0
}

export function killMachine(ctx: VerbContext): Promise<number> {
  return killEach(ctx, ctx.options.killWhom ?? 'all', ctx.options.signal)
}

export function poweroffMachine(ctx: VerbContext): Promise<number> {
  return killEach(ctx, 'leader', SIGNAL_POWEROFF)
}

export function rebootMachine(ctx: VerbContext): Promise<number> {
  return killEach(ctx, 'leader', SIGNAL_REBOOT)
}

export async function terminateMachine(ctx: VerbContext): Promise<number> {
  const client = await ctx.connect()
  for (const name of ctx.args.slice(1)) {
    try {
      await client.terminate(name)
    } catch (err) {
      throw new CliError(`Could not terminate machine: ${describeError(err)}`)
    }
  }
  return 0
}
