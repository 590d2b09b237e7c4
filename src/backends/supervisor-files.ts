/**
 * What the supervisor (supervisor.ts) keeps on disk, so a restarted daemon
 * finds its launchers again and an admin finds their output:
 *
 * - `RUNTIME/launchers/NAME`: one record per running launcher (its PID and
 *   start time, what it runs, whether its machine registered and whether it
 *   is being stopped), env-file lines as the machine state files;
 *   `NAME.status` is where the launcher writes its exit code
 *   (linux/exit-status.ts).
 * - `LOGS/NAME.log`: everything the launcher and the guest's console wrote;
 *   at each start a log over LOG_ROTATE_BYTES becomes `NAME.log.1`, and
 *   while it runs one over LOG_MAX_BYTES is copied there and emptied.
 * - `ENABLED/NAME`: an empty file per machine started with the daemon
 *   (what `machinectl enable` is to machines.target.wants/).
 * @module
 */

import { constants, openSync } from 'node:fs'
import { copyFile, mkdir, open, readdir, readFile, rename, stat, truncate, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cescape, parseEnvFile } from '../core/env-file.ts'
import type { LaunchKind } from '../core/ports.ts'
import { machineNameIsValid } from '../protocol/hostname.ts'
import { LimitsExceededError } from '../protocol/errors.ts'
import { parseExitStatus } from '../linux/exit-status.ts'

export const LOG_ROTATE_BYTES = 1 << 20
export const LOG_MAX_BYTES = 4 << 20

export interface LauncherRecord {
  readonly name: string
  readonly kind: LaunchKind
  readonly pid: number
  readonly startTime: bigint
  readonly registered: boolean
  readonly stopping: boolean
}

const HEADER = '# machined-ts: a launcher its supervisor runs. Private data.\n'

export function formatLauncherRecord(r: LauncherRecord): string {
  return `${HEADER}NAME=${cescape(r.name)}\nKIND=${r.kind}\nLAUNCHER=${r.pid}\nLAUNCHER_STARTTIME=${r.startTime}\n` +
    `${r.registered ? 'REGISTERED=1\n' : ''}${r.stopping ? 'STOPPING=1\n' : ''}`
}

/** undefined for a record that is not one (another file, or garbage). */
export function parseLauncherRecord(text: string, name: string): LauncherRecord | undefined {
  const env = parseEnvFile(text)
  const pid = Number(env.get('LAUNCHER'))
  const startText = env.get('LAUNCHER_STARTTIME') ?? ''
  const kind = env.get('KIND')
  if (env.get('NAME') !== name || !Number.isSafeInteger(pid) || pid <= 1 || !/^\d+$/.test(startText) || (kind !== 'container' && kind !== 'vm')) return undefined
  return { name, kind, pid, startTime: BigInt(startText), registered: env.get('REGISTERED') === '1', stopping: env.get('STOPPING') === '1' }
}

export class LauncherRecords {
  readonly dir: string

  constructor(dir: string) {
    this.dir = dir
  }

  statusPath(name: string): string {
    return join(this.dir, `${name}.status`)
  }

  async write(r: LauncherRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 })
    const tmp = join(this.dir, `.#${r.name}`)
    await writeFile(tmp, formatLauncherRecord(r), { mode: 0o644 })
    await rename(tmp, join(this.dir, r.name))
  }

  async remove(name: string): Promise<void> {
    for (const f of [name, `${name}.status`]) await unlink(join(this.dir, f)).catch(() => undefined)
  }

  /** Forgets the exit code of an earlier run before a new one starts. */
  async clearStatus(name: string): Promise<void> {
    await unlink(this.statusPath(name)).catch(() => undefined)
  }

  async readStatus(name: string): Promise<number | undefined> {
    const text = await readFile(this.statusPath(name), 'utf8').catch(() => undefined)
    return text === undefined ? undefined : parseExitStatus(text)
  }

  async list(): Promise<LauncherRecord[]> {
    const names = await readdir(this.dir).catch(() => [] as string[])
    const out: LauncherRecord[] = []
    for (const name of names.filter(machineNameIsValid)) {
      const text = await readFile(join(this.dir, name), 'utf8').catch(() => undefined)
      const r = text === undefined ? undefined : parseLauncherRecord(text, name)
      if (r !== undefined) out.push(r)
    }
    return out
  }
}

export class LauncherLogs {
  readonly dir: string

  constructor(dir: string) {
    this.dir = dir
  }

  path(name: string): string {
    return join(this.dir, `${name}.log`)
  }

  /** The log, opened for appending (the caller hands the fd to the launcher and closes its own); a big one is rotated first. */
  async open(name: string): Promise<number> {
    await mkdir(this.dir, { recursive: true, mode: 0o750 })
    const path = this.path(name)
    if (((await stat(path).catch(() => undefined))?.size ?? 0) > LOG_ROTATE_BYTES) await rename(path, `${path}.1`)
    // A plain fd, not a FileHandle: the caller closes it, and nothing must close it again when collected.
    return openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640)
  }

  /** While a launcher runs: a log over LOG_MAX_BYTES is copied to NAME.log.1 and emptied (the launcher appends, so it goes on at the start). */
  async trim(name: string): Promise<void> {
    const path = this.path(name)
    if (((await stat(path).catch(() => undefined))?.size ?? 0) <= LOG_MAX_BYTES) return
    await copyFile(path, `${path}.1`)
    await truncate(path, 0)
  }

  /** The last non-empty lines of the log, for an error message. */
  async tail(name: string, lines = 3): Promise<string[]> {
    const file = await open(this.path(name), 'r').catch(() => undefined)
    if (file === undefined) return []
    try {
      const { size } = await file.stat()
      const length = Math.min(size, 4096)
      const { buffer, bytesRead } = await file.read(Buffer.alloc(length), 0, length, size - length)
      return buffer.subarray(0, bytesRead).toString('utf8').split(/\r?\n/).map((l) => l.trimEnd()).filter((l) => l !== '').slice(-lines)
    } finally {
      await file.close()
    }
  }
}

export class EnabledMachines {
  readonly dir: string
  readonly #max: number

  constructor(dir: string, max: number) {
    this.dir = dir
    this.#max = max
  }

  async list(): Promise<string[]> {
    return (await readdir(this.dir).catch(() => [] as string[])).filter(machineNameIsValid).sort()
  }

  async isEnabled(name: string): Promise<boolean> {
    return (await stat(join(this.dir, name)).catch(() => undefined))?.isFile() === true
  }

  async enable(name: string): Promise<void> {
    if (await this.isEnabled(name)) return
    if ((await this.list()).length >= this.#max) throw new LimitsExceededError(`Too many machines enabled (${this.#max})`)
    await mkdir(this.dir, { recursive: true, mode: 0o755 })
    await writeFile(join(this.dir, name), '', { mode: 0o644 })
  }

  async disable(name: string): Promise<void> {
    await unlink(join(this.dir, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
  }
}
