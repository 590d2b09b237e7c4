/**
 * The launcher's runtime directory, /run/machined-vmspawn/<launcher PID>/
 * ($XDG_RUNTIME_DIR/machined-vmspawn/… when not root):
 * the QMP socket, and `guest`, what the guest's console said about its
 * identity (GuestIdentity as KEY=VALUE lines). Keyed by the launcher's PID
 * because that is the machine's leader: anyone who has the machine from
 * machined (`mctl status`) finds the file from its Leader. Removed when
 * the launcher exits.
 * @module
 */

import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { guestIdVerdict, type GuestIdVerdict } from '../protocol/machine-id.ts'
import type { GuestIdentity } from './guest-console.ts'

export const RUNTIME_ROOT = '/run/machined-vmspawn'

/** /run for root; $XDG_RUNTIME_DIR for others, as vmspawn picks its runtime directory by scope. */
export function defaultRuntimeRoot(): string {
  const xdg = process.env.XDG_RUNTIME_DIR
  return process.getuid?.() === 0 || xdg === undefined || xdg === '' ? RUNTIME_ROOT : join(xdg, 'machined-vmspawn')
}

export class RuntimeDir {
  readonly path: string

  private constructor(path: string) {
    this.path = path
  }

  static create(pid = process.pid, root = defaultRuntimeRoot()): RuntimeDir {
    mkdirSync(root, { recursive: true, mode: 0o755 })
    const path = join(root, String(pid))
    // A directory left by a launcher that was killed with this PID's earlier owner is stale.
    rmSync(path, { recursive: true, force: true })
    mkdirSync(path, { mode: 0o700 })
    return new RuntimeDir(path)
  }

  get qmpSocket(): string {
    return join(this.path, 'qmp.sock')
  }

  /** Atomically replaces the guest record. */
  writeGuestIdentity(identity: GuestIdentity): void {
    const lines = [
      identity.machineIdSource === undefined ? undefined : `MACHINE_ID_SOURCE=${identity.machineIdSource}`,
      identity.machineId === undefined ? undefined : `MACHINE_ID=${identity.machineId}`,
      identity.productUuid === undefined ? undefined : `PRODUCT_UUID=${identity.productUuid}`,
    ].filter((l) => l !== undefined)
    const tmp = join(this.path, '.guest.tmp')
    writeFileSync(tmp, `${lines.join('\n')}\n`, { mode: 0o644 })
    renameSync(tmp, join(this.path, 'guest'))
  }

  remove(): void {
    rmSync(this.path, { recursive: true, force: true })
  }
}

/**
 * What a running machined-vmspawn learnt from its guest's console, found
 * by the machine's leader PID; undefined when there is no such launcher
 * (another manager, or nothing seen yet).
 */
export function readGuestIdentity(leaderPid: number, root = RUNTIME_ROOT): GuestIdentity | undefined {
  let text: string
  try {
    text = readFileSync(join(root, String(leaderPid), 'guest'), 'utf8')
  } catch {
    return undefined
  }
  const out: { machineIdSource?: string; machineId?: string; productUuid?: string } = {}
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=')
    if (eq < 0) continue
    const [key, value] = [line.slice(0, eq), line.slice(eq + 1)]
    if (key === 'MACHINE_ID_SOURCE') out.machineIdSource = value
    else if (key === 'MACHINE_ID') out.machineId = value
    else if (key === 'PRODUCT_UUID') out.productUuid = value
  }
  return out
}

/**
 * One line for `mctl status` on a VM: whether its guest took the ID it
 * was registered with. `registeredId` is the machine's Id as 32 hex
 * digits ('' for none); undefined when there is nothing to say (not a
 * machined-vmspawn VM, or its guest said nothing yet).
 *
 * @example
 * const line = describeGuestId(m.id, readGuestIdentity(m.leader))
 * if (line !== undefined) print(`Guest ID: ${line}`)
 */
export function describeGuestId(registeredId: string, identity: GuestIdentity | undefined): string | undefined {
  if (identity === undefined) return undefined
  const verdict: GuestIdVerdict = guestIdVerdict(registeredId, identity.machineId)
  const from = identity.machineIdSource === undefined ? '' : ` (from ${identity.machineIdSource})`
  switch (verdict) {
    case 'match': return `taken by the guest${from}`
    case 'mismatch': return `not taken: the guest runs as ${identity.machineId ?? '?'}${from}`
    case 'no-registered-id': return identity.machineId === undefined ? undefined : `guest runs as ${identity.machineId}${from}`
    case 'unknown':
      // systemd said where it took its ID from, but not which ID (no report unit in the guest).
      if (identity.machineIdSource === undefined) return undefined
      return identity.machineIdSource === 'VM UUID' ? 'taken by the guest (from VM UUID)' : `guest initialised its ID from ${identity.machineIdSource}`
  }
}
