/**
 * State files in systemd's place and shape: /run/systemd/machines/<name>
 * plus the link unit:<unit> → <name> that libsystemd follows
 * (sd_pid_get_machine_name, `ps -o machine`). Every change is a write to a
 * temporary file in the same directory and a rename over the old one.
 * @module
 */

import { mkdir, readdir, readFile, rename, rm, symlink, writeFile, readlink } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { machineNameIsValid } from '../protocol/hostname.ts'
import type { StateStore } from '../core/ports.ts'

export class StateDir implements StateStore {
  readonly path: string

  constructor(path: string) {
    this.path = path
  }

  async init(): Promise<void> {
    // Programs test for /run/systemd/machines/ to see whether machined runs.
    await mkdir(this.path, { recursive: true, mode: 0o755 })
  }

  #temporary(name: string): string {
    return join(this.path, `.#${name}${randomBytes(6).toString('hex')}`)
  }

  async write(name: string, contents: string): Promise<void> {
    const tmp = this.#temporary(name)
    try {
      await writeFile(tmp, contents, { mode: 0o644 })
      await rename(tmp, join(this.path, name))
    } finally {
      await rm(tmp, { force: true })
    }
  }

  async remove(name: string): Promise<void> {
    await rm(join(this.path, name), { force: true })
  }

  async linkUnit(unit: string, name: string): Promise<void> {
    const tmp = this.#temporary(`unit:${unit}`)
    try {
      await symlink(name, tmp)
      await rename(tmp, join(this.path, `unit:${unit}`))
    } finally {
      await rm(tmp, { force: true })
    }
  }

  async unlinkUnit(unit: string, name: string): Promise<void> {
    const link = join(this.path, `unit:${unit}`)
    // Leave a link alone that now names another machine.
    const target = await readlink(link).catch(() => undefined)
    if (target === name) await rm(link, { force: true })
  }

  async list(): Promise<{ name: string; contents: string }[]> {
    const out: { name: string; contents: string }[] = []
    let entries
    try {
      entries = await readdir(this.path, { withFileTypes: true })
    } catch {
      return out
    }
    for (const e of entries) {
      // manager_enumerate_machines() skips the unit: links and anything that is not a machine name.
      if (!e.isFile() || e.name.startsWith('unit:') || !machineNameIsValid(e.name)) continue
      const contents = await readFile(join(this.path, e.name), 'utf8').catch(() => undefined)
      if (contents !== undefined) out.push({ name: e.name, contents })
    }
    return out
  }
}
