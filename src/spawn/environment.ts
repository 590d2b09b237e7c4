/**
 * The environment PID 1 of the container starts with, as nspawn's
 * inner_child() builds it (checklist items 1-11, docs/container-interface.md):
 * the Container Interface variables, a few basics, the host's os-release as
 * container_host_*, then --setenv. Nothing else of ours leaks in.
 * @module
 */

import { uuidFromId } from './machine-id.ts'

/** The value of $container and /run/host/container-manager: who we are, in lower case (A1.1 items 1-2). */
export const CONTAINER_MANAGER_ID = 'machined-spawn'
/** nspawn's NSPAWN_NOTIFY_SOCKET_PATH. */
export const NOTIFY_SOCKET_PATH = '/run/host/notify'
/** systemd's DEFAULT_PATH_COMPAT: what nspawn gives PID 1. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export interface EnvironmentInput {
  /** 32 hex digits. */
  readonly id: string
  readonly boot: boolean
  /** A pty stands in for /dev/console (every console mode but pipe). */
  readonly pty: boolean
  /** Our own environment, for TERM and (when not booting) LANG. */
  readonly callerEnv: Readonly<Record<string, string | undefined>>
  readonly containerHost: readonly string[]
  readonly setenv: readonly string[]
}

function nameOf(assignment: string): string {
  const eq = assignment.indexOf('=')
  return eq < 0 ? assignment : assignment.slice(0, eq)
}

/** NAME=VALUE strings; later entries replace earlier ones of the same name, as strv_env_merge() does. */
export function containerEnvironment(input: EnvironmentInput): string[] {
  const base = [
    `PATH=${DEFAULT_PATH}`,
    `container=${CONTAINER_MANAGER_ID}`,
  ]
  const term = input.callerEnv.TERM
  if (input.pty) base.push(`TERM=${term !== undefined && term !== '' ? term : 'vt220'}`)
  else if (term !== undefined) base.push(`TERM=${term}`)
  base.push('HOME=/root', 'USER=root', 'LOGNAME=root')
  base.push(`container_uuid=${uuidFromId(input.id)}`)
  base.push(`NOTIFY_SOCKET=${NOTIFY_SOCKET_PATH}`)
  const lang = input.callerEnv.LANG
  if (!input.boot && lang !== undefined) base.push(`LANG=${lang}`)

  const merged = new Map<string, string>()
  for (const a of [...base, ...input.containerHost, ...input.setenv]) merged.set(nameOf(a), a)
  return [...merged.values()]
}
