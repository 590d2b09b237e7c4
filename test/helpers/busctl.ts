/**
 * Driving the daemon with the real `busctl`. At debug log level busctl
 * prints the reply's error-name and error-message, so tests can check the
 * exact D-Bus error without any client of our own.
 */

import type { Exec } from './sandbox.ts'

export const DEST = 'org.freedesktop.machine1'
export const MANAGER_PATH = '/org/freedesktop/machine1'
export const MANAGER_IFACE = 'org.freedesktop.machine1.Manager'

export interface BusctlReply {
  readonly ok: boolean
  /** busctl's printed reply, e.g. `o "/org/freedesktop/machine1/machine/foo"`. */
  readonly reply: string
  readonly errorName: string | undefined
  readonly errorMessage: string | undefined
  readonly stderr: string
}

/** setpriv's arguments to run a command as an unprivileged user (nobody by default), with no supplementary groups. */
export function asUser(uid = 65534, gid = uid): string[] {
  return ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups']
}

/** `as`: a command prefix to run busctl under, e.g. asUser(). */
export async function busctl(sb: Exec, args: string[], as: readonly string[] = []): Promise<BusctlReply> {
  const r = await sb.exec([...as, 'env', 'SYSTEMD_LOG_LEVEL=debug', 'busctl', ...args])
  const m = /^Got message type=error .* error-name=(\S+) error-message=(.*)$/m.exec(r.stderr)
  return { ok: r.code === 0, reply: r.stdout.trim(), errorName: m?.[1], errorMessage: m?.[2], stderr: r.stderr }
}

/** `busctl call org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager METHOD SIG ARGS…` */
export function callManager(sb: Exec, method: string, signature = '', ...args: (string | number)[]): Promise<BusctlReply> {
  const sig = signature === '' ? [] : [signature]
  return busctl(sb, ['call', DEST, MANAGER_PATH, MANAGER_IFACE, method, ...sig, ...args.map(String)])
}

/** busctl's argument list for an `ay` of 16 bytes (or none). */
export function idArgs(hex: string): string[] {
  if (hex === '') return ['0']
  const bytes = hex.match(/../g) ?? []
  return [String(bytes.length), ...bytes.map((b) => `0x${b}`)]
}

export interface RegisterOptions {
  readonly name: string
  readonly leader: number
  readonly id?: string
  readonly service?: string
  readonly cls?: string
  readonly root?: string
}

export function registerMachine(sb: Exec, o: RegisterOptions): Promise<BusctlReply> {
  return callManager(sb, 'RegisterMachine', 'sayssus', o.name, ...idArgs(o.id ?? ''), o.service ?? 'test-svc', o.cls ?? 'container', o.leader, o.root ?? '')
}

export function createMachine(sb: Exec, o: RegisterOptions & { properties?: string[] }): Promise<BusctlReply> {
  const props = o.properties ?? ['0']
  return callManager(sb, 'CreateMachine', 'sayssusa(sv)', o.name, ...idArgs(o.id ?? ''), o.service ?? 'test-svc', o.cls ?? 'container', o.leader, o.root ?? '', ...props)
}

/** The machine names ListMachines reports, .host included. */
export async function listMachineNames(sb: Exec): Promise<string[]> {
  const r = await callManager(sb, 'ListMachines')
  if (!r.ok) throw new Error(`ListMachines failed: ${r.stderr}`)
  return [...r.reply.matchAll(/"([^"]*)" "[^"]*" "[^"]*" "\/org/g)].map((m) => m[1]!)
}
