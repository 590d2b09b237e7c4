/**
 * Terminals in a machine: OpenMachinePTY, OpenMachineLogin,
 * OpenMachineShell and Varlink Open (systemd's machine_openpt(),
 * machine_start_getty(), machine_start_shell()). Each opening is an
 * operation (OPERATIONS_MAX): it runs a helper process.
 * @module
 */

import { NoSuchProcessError, NotSupportedError } from '../protocol/errors.ts'
import { ACTIONS, type Action, type Caller } from './authorization.ts'
import type { Machine } from './machine.ts'
import type { Manager } from './manager.ts'
import type { MachinePty, ProcessRef } from './ports.ts'
import { shellSpecFromRequest, type ShellRequest } from './shell-request.ts'

export type TerminalMode = 'tty' | 'login' | 'shell'

const ACTION_OF: Readonly<Record<TerminalMode, Action>> = { tty: ACTIONS.openPty, login: ACTIONS.login, shell: ACTIONS.enterMachine }

/**
 * Everything Open checks about the machine and the caller, without
 * opening anything (for a transport that cannot hand over the pty):
 * containers, and the host itself; other classes answer EOPNOTSUPP from
 * machine_openpt(), after the authorisation check, as in systemd.
 *
 * Root only, even on a machine the caller registered itself: a session
 * runs as the user it names (root by default) in the leader's
 * namespaces, and a leader a user owns may sit in the host's user
 * namespace (or in one whose IDs map onto other users'), where that
 * would be a session as root, or as somebody else, on the host. systemd
 * leaves this to polkit rules; with no polkit, we refuse.
 */
export function checkTerminal(manager: Manager, machine: Machine, mode: TerminalMode, caller: Caller): void {
  manager.ports.authorizer.check(caller, ACTION_OF[mode])
  if (machine !== manager.host && machine.class !== 'container') throw new NotSupportedError('Operation not supported')
}

/**
 * The terminal's leader (undefined: the host), once it is known to be
 * alive: a machine whose leader died stays while its unit holds
 * processes, and the dead leader's PID may name any process by now,
 * whose namespaces the helper would enter (ESRCH, "No such process", as
 * namespace_open() fails in systemd).
 */
async function liveTerminalLeader(manager: Manager, machine: Machine, mode: TerminalMode, caller: Caller): Promise<ProcessRef | undefined> {
  checkTerminal(manager, machine, mode, caller)
  if (machine === manager.host) return undefined
  if (!(await manager.leaders.isAlive(machine))) throw new NoSuchProcessError('No such process')
  return machine.leader
}

/** OpenMachinePTY: a pty in the machine, nothing started on it. */
export async function openMachinePty(manager: Manager, machine: Machine, caller: Caller): Promise<MachinePty> {
  const leader = await liveTerminalLeader(manager, machine, 'tty', caller)
  return manager.runOperation(() => manager.ports.terminals.openPty(leader))
}

/** OpenMachineLogin: a pty with the machine's getty on it. */
export async function openMachineLogin(manager: Manager, machine: Machine, caller: Caller): Promise<MachinePty> {
  const leader = await liveTerminalLeader(manager, machine, 'login', caller)
  return manager.runOperation(() => manager.ports.terminals.openLogin(leader))
}

/** OpenMachineShell: the request is checked before the caller is (systemd reads and checks its arguments first). */
export async function openMachineShell(manager: Manager, machine: Machine, request: ShellRequest, caller: Caller): Promise<MachinePty> {
  const spec = shellSpecFromRequest(request)
  const leader = await liveTerminalLeader(manager, machine, 'shell', caller)
  return manager.runOperation(() => manager.ports.terminals.openShell(leader, spec))
}
