/**
 * The launcher's runtime directory, /run/machined-vmspawn/<launcher PID>/
 * ($XDG_RUNTIME_DIR/machined-vmspawn/… when not root):
 * the QMP socket, and `guest`, what the guest said about itself over the
 * vsock notify channel or its console (GuestRecord as KEY=VALUE lines).
 * Keyed by the launcher's PID because that is the machine's leader:
 * anyone who has the machine from machined (`mctl status`) finds the file
 * from its Leader. Removed when the launcher exits.
 * @module
 */

import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  formatGuestRecord, GUEST_RECORD_FILE, VMSPAWN_RUNTIME_ROOT, type GuestRecord,
} from '../protocol/vm-guest-record.ts'

export const RUNTIME_ROOT = VMSPAWN_RUNTIME_ROOT

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
  writeGuestRecord(record: GuestRecord): void {
    const tmp = join(this.path, '.guest.tmp')
    writeFileSync(tmp, formatGuestRecord(record), { mode: 0o644 })
    renameSync(tmp, join(this.path, GUEST_RECORD_FILE))
  }

  remove(): void {
    rmSync(this.path, { recursive: true, force: true })
  }
}
