/**
 * OpenMachineShell's arguments as systemd 252 reads them
 * (bus_machine_method_open_shell()): an empty user is root; an empty path
 * runs the user's login shell through /bin/sh, found with getent in the
 * machine; otherwise the path must be absolute and empty args mean the
 * path alone. The environment must be valid assignments, each name once
 * (strv_env_is_valid()).
 * @module
 */

import { InvalidArgsError } from '../protocol/errors.ts'
import type { ShellSpec } from './ports.ts'

export interface ShellRequest {
  readonly user: string
  readonly path: string
  readonly args: readonly string[]
  readonly environment: readonly string[]
}

/** The /bin/sh script machined runs when no program is given: the user's shell from the machine's passwd, as a login shell. */
export function defaultShellArgs(user: string): string[] {
  return [
    'sh',
    '-c',
    `shell=$(getent passwd ${user} 2>/dev/null | { IFS=: read _ _ _ _ _ _ x; echo "$x"; })\nexec "\${shell:-/bin/sh}" -l`,
  ]
}

/** env_name_is_valid(): what a shell accepts as a variable name. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
/** env_value_is_valid(): no control characters but tab and newline. */
// eslint-disable-next-line no-control-regex -- the control characters are what it looks for
const ENV_VALUE_BAD = /[\x00-\x08\x0b-\x1f\x7f]/

export function environmentIsValid(environment: readonly string[]): boolean {
  const seen = new Set<string>()
  for (const assignment of environment) {
    const eq = assignment.indexOf('=')
    if (eq <= 0) return false
    const name = assignment.slice(0, eq)
    if (!ENV_NAME.test(name) || ENV_VALUE_BAD.test(assignment.slice(eq + 1)) || seen.has(name)) return false
    seen.add(name)
  }
  return true
}

/** Checks and defaults, in systemd's order; throws InvalidArgsError with its messages. */
export function shellSpecFromRequest(request: ShellRequest): ShellSpec {
  const user = request.user === '' ? 'root' : request.user
  let path: string
  let args: readonly string[]
  if (request.path === '') {
    path = '/bin/sh'
    args = defaultShellArgs(user)
  } else {
    if (!request.path.startsWith('/')) throw new InvalidArgsError(`Specified path '${request.path}' is not absolute`)
    path = request.path
    args = request.args.length === 0 ? [path] : request.args
  }
  if (!environmentIsValid(request.environment)) throw new InvalidArgsError('Invalid environment assignments')
  return { user, path, args, environment: request.environment }
}
