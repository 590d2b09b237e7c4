/**
 * `login [NAME]` and `shell [[USER@]NAME [COMMAND…]]` (login_machine() and
 * shell_machine() of machinectl.c): ask machined for a pty with a login
 * prompt or a program on it, then forward our terminal to it until the
 * session ends. No NAME means the host (".host"). The exit code is 0 once
 * a session ran, whatever the program's own status, as in machinectl 252.
 * @module
 */

import { closeSync } from 'node:fs'
import type { MachinePty, MachinedClient } from '../../client/types.ts'
import { CliError, describeError } from '../errors.ts'
import { PtyForward } from '../pty-forward.ts'
import type { VerbContext } from '../verb.ts'

const HOST = '.host'

export interface MachineUser {
  readonly machine: string
  /** undefined: the daemon's default (root). */
  readonly user: string | undefined
}

/**
 * parse_machine_uid(): "USER@NAME" or "NAME"; an empty NAME is the host;
 * "@NAME" is refused, as ssh refuses it. --uid applies when no USER@ is given.
 */
export function parseMachineUser(spec: string | undefined, uidOption: string | undefined): MachineUser | undefined {
  let machine = spec
  let user: string | undefined
  if (spec !== undefined) {
    const at = spec.indexOf('@')
    if (at === 0) return undefined
    if (at > 0) {
      user = spec.slice(0, at)
      machine = spec.slice(at + 1)
    }
  }
  return { machine: machine === undefined || machine === '' ? HOST : machine, user: user ?? uidOption }
}

/** Forwards the session and prints machinectl's lines around it. */
async function forward(ctx: VerbContext, client: MachinedClient, machine: string, pty: MachinePty, ignoreHangup: boolean): Promise<number> {
  const quiet = ctx.options.quiet
  const host = machine === HOST
  if (!quiet) {
    ctx.io.err(host
      ? 'Connected to the local host. Press ^] three times within 1s to exit session.\n'
      : `Connected to machine ${machine}. Press ^] three times within 1s to exit session.\n`)
  }
  const session = new PtyForward({ master: pty.fd, input: process.stdin, output: process.stdout, ignoreHangup })
  // on_machine_removed(): a login session ends at the next hangup once its machine is gone.
  let removed = false
  const abort = new AbortController()
  const events = client.watch({ signal: abort.signal })
  void (async () => {
    try {
      for await (const e of events) {
        if (e.type === 'removed' && e.name === machine) { removed = true; session.stopAtHangup() }
      }
    } catch { /* the watch ended with the connection */ }
  })()
  const result = await session.done
  abort.abort()
  try { closeSync(pty.fd) } catch { /* closed */ }
  if (result.lastChar !== 0x0a) process.stdout.write('\n')
  if (!quiet) {
    if (ignoreHangup && removed) ctx.io.err(`Machine ${machine} terminated.\n`)
    else ctx.io.err(host ? 'Connection to the local host terminated.\n' : `Connection to machine ${machine} terminated.\n`)
  }
  return 0
}

export async function loginMachine(ctx: VerbContext): Promise<number> {
  if (ctx.options.setenv.length > 0 || ctx.options.uid !== undefined) {
    throw new CliError('--setenv= and --uid= are not supported for \'login\'. Use \'shell\' instead.')
  }
  const name = ctx.args[1]
  const machine = name === undefined || name === '' ? HOST : name
  const client = await ctx.connect()
  let pty: MachinePty
  try {
    pty = await client.openLogin(machine)
  } catch (err) {
    throw new CliError(`Failed to get login PTY: ${describeError(err)}`)
  }
  return forward(ctx, client, machine, pty, true)
}

export async function shellMachine(ctx: VerbContext): Promise<number> {
  const environment = [...ctx.options.setenv]
  // Pass $TERM to the shell session, unless given explicitly.
  const term = ctx.io.env.TERM
  if (!environment.some((e) => e.startsWith('TERM=')) && term !== undefined) environment.push(`TERM=${term}`)
  const target = parseMachineUser(ctx.args[1], ctx.options.uid)
  if (target === undefined) throw new CliError('Failed to parse machine specification: Invalid argument')
  // machinectl: the command's path is its first word, which is also its argv[0].
  const command = ctx.args.slice(2)
  const path = command[0] === undefined || command[0] === '' ? '' : command[0]
  const args = command.length <= 1 ? [] : command
  const client = await ctx.connect()
  let pty: MachinePty
  try {
    pty = await client.openShell(target.machine, { ...(target.user === undefined ? {} : { user: target.user }), path, args, environment })
  } catch (err) {
    throw new CliError(`Failed to get shell PTY: ${describeError(err)}`)
  }
  return forward(ctx, client, target.machine, pty, false)
}
