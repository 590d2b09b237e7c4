/**
 * Driving the daemon's Varlink socket inside a sandbox with
 * test/helpers/varlink-client.py, a client written independently of ours
 * in Python's standard library.
 */

import { join } from 'node:path'
import { REPO, type Exec } from './sandbox.ts'
import { varlinkClientForAnyUser } from './staged.ts'

export const SOCKET = '/run/systemd/machine/io.systemd.Machine'
const CLIENT = join(REPO, 'test/helpers/varlink-client.py')

export interface Call {
  readonly method: string
  readonly parameters?: Record<string, unknown>
  readonly more?: boolean
  readonly oneway?: boolean
}

export interface Reply {
  readonly parameters?: Record<string, unknown>
  readonly error?: string
  readonly continues?: boolean
  readonly closed?: boolean
}

/** `as`: a command prefix to run the client under, e.g. asUser() from busctl.ts. */
async function run<T>(sb: Exec, spec: Record<string, unknown>, socket = SOCKET, as: readonly string[] = []): Promise<T> {
  // Another user may reach neither root's python3 (a pyenv shim under /root) nor the checkout: the
  // system's python3 then, and the client from a copy anyone can read.
  const argv = as.length === 0 ? ['python3', CLIENT] : ['/usr/bin/python3', varlinkClientForAnyUser()]
  const r = await sb.exec([...as, ...argv, socket], { input: JSON.stringify(spec), timeoutMs: 60_000 })
  if (r.code !== 0) throw new Error(`varlink-client.py failed (${r.code}): ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

/** Calls one after another on one connection; the replies of each, and the client's PID. */
export function calls(sb: Exec, list: readonly Call[], socket?: string, as: readonly string[] = []): Promise<{ pid: number; results: Reply[][] }> {
  return run(sb, { op: 'calls', calls: list }, socket, as)
}

/** One call on its own connection; its replies (one, or several with more). */
export async function call(sb: Exec, method: string, parameters: Record<string, unknown> = {}, flags: { more?: boolean } = {}): Promise<Reply[]> {
  return (await calls(sb, [{ method, parameters, ...flags }])).results[0]!
}

/** One call expected to get exactly one reply. */
export async function call1(sb: Exec, method: string, parameters: Record<string, unknown> = {}): Promise<Reply> {
  const replies = await call(sb, method, parameters)
  if (replies.length !== 1) throw new Error(`expected one reply to ${method}, got ${JSON.stringify(replies)}`)
  return replies[0]!
}

export function pipeline(sb: Exec, list: readonly Call[]): Promise<{ pid: number; replies: Reply[] }> {
  return run(sb, { op: 'pipeline', calls: list })
}

export type Piece = string | { readonly repeat: string; readonly count: number }

export function raw(sb: Exec, send: readonly Piece[], options: { shutdown?: boolean } = {}): Promise<{ frames: Reply[]; eof: boolean; trailing: string; send_error: string | null }> {
  return run(sb, { op: 'raw', send, shutdown: options.shutdown === true })
}

export function concurrent(sb: Exec, connections: number, c: Call, as: readonly string[] = []): Promise<{ connected: number; replies: Record<string, number>; failures: string[] }> {
  return run(sb, { op: 'concurrent', connections, call: c }, SOCKET, as)
}

/** The names List reports (streamed with more). */
export async function listNames(sb: Exec): Promise<string[]> {
  return (await call(sb, 'io.systemd.Machine.List', {}, { more: true })).map((r) => r.parameters?.name as string)
}
