/**
 * State files in systemd's place and shape: /run/systemd/machines/<name>
 * plus the link unit:<unit> → <name> that libsystemd follows
 * (sd_pid_get_machine_name, `ps -o machine`). Every change is a write to a
 * temporary file in the same directory and a rename over the old one, so
 * a reader never sees half a file and a crash (kill -9) of the daemon at
 * any point leaves either the old file or the new one: the data is the
 * kernel's once write() returns. Writes are synchronous, as systemd's
 * are, and cost less than a thread-pool trip.
 *
 * fsync: /run is a tmpfs, where fsync does nothing (there is no disk) and
 * nothing survives a reboot anyway, as no machine does. Where the
 * directory is on a real filesystem (--state-dir elsewhere), a power cut
 * could leave a renamed file empty, so there the temporary file is
 * fsync'd before the rename and the directory after it.
 * @module
 */

import {
  closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, statfsSync, symlinkSync,
  unlinkSync, writeFileSync, type Dirent,
} from 'node:fs'
import { constants } from 'node:os'
import { readSmallFiles } from '../native/small-files.ts'
import { machineNameIsValid } from '../protocol/hostname.ts'
import type { StateStore } from '../core/ports.ts'

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}

function readQuietly(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** A state file is a few hundred bytes; one longer than this is read on its own (list()). */
const STATE_FILE_MAX = 64 * 1024

/** Where a symlink points; undefined when there is none. */
function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path)
  } catch {
    return undefined
  }
}

/** statfs(2) f_type of a tmpfs (and of ramfs, equally without a disk). */
const TMPFS_MAGIC = 0x01021994
const RAMFS_MAGIC = 0x858458f6

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

export class StateDir implements StateStore {
  readonly path: string
  #serial = 0
  /** Whether writes are fsync'd: the directory is on a filesystem with a disk behind it. */
  #durable = false

  constructor(path: string) {
    this.path = path
  }

  async init(): Promise<void> {
    // Programs test for /run/systemd/machines/ to see whether machined runs.
    mkdirSync(this.path, { recursive: true, mode: 0o755 })
    const type = statfsSync(this.path).type
    this.#durable = type !== TMPFS_MAGIC && type !== RAMFS_MAGIC
    // Temporary files of a write that was cut short (".#name…", as systemd names them).
    for (const entry of readdirSync(this.path)) if (entry.startsWith('.#')) unlinkQuietly(this.#entry(entry))
  }

  /**
   * An entry's path. A concatenation, not path.join(): the names are
   * machine names, checked before they get here, unit names, the last
   * component of a cgroup path, or what readdir() listed (none has a '/'
   * or is '..'), and
   * join()'s normalising was 1 % of a Register+Unregister pair's CPU time
   * (perf, bench/README.md). A trailing '/' of the directory gives "//",
   * which the kernel reads as one.
   */
  #entry(name: string): string {
    return `${this.path}/${name}`
  }

  #temporary(name: string): string {
    return this.#entry(`.#${name}.${process.pid}.${++this.#serial}`)
  }

  /** Whether writes are fsync'd (the state directory is not on a tmpfs). */
  get durable(): boolean {
    return this.#durable
  }

  /** Runs `make(tmp)` and renames tmp over `target`; the temporary file never outlives a failure. */
  #replace(target: string, name: string, make: (tmp: string) => void): void {
    const tmp = this.#temporary(name)
    try {
      make(tmp)
      renameSync(tmp, target)
    } catch (err) {
      unlinkQuietly(tmp)
      throw err
    }
    if (this.#durable) fsyncPath(this.path)
  }

  async write(name: string, contents: string): Promise<void> {
    this.#replace(this.#entry(name), name, (tmp) => {
      writeFileSync(tmp, contents, { mode: 0o644 })
      if (this.#durable) fsyncPath(tmp)
    })
  }

  async remove(name: string): Promise<void> {
    unlinkQuietly(this.#entry(name))
  }

  async linkUnit(unit: string, name: string): Promise<void> {
    const link = this.#entry(`unit:${unit}`)
    try {
      // Usually there is no link yet: one symlink(2) makes it whole, as systemd makes it.
      symlinkSync(name, link)
      if (this.#durable) fsyncPath(this.path)
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    // A link that names the machine already (a restart) stays.
    if (readLink(link) === name) return
    this.#replace(link, name, (tmp) => symlinkSync(name, tmp))
  }

  async unlinkUnit(unit: string, name: string): Promise<void> {
    const link = this.#entry(`unit:${unit}`)
    // Leave a link alone that now names another machine.
    if (readLink(link) === name) unlinkQuietly(link)
  }

  async removeLink(unit: string): Promise<void> {
    unlinkQuietly(this.#entry(`unit:${unit}`))
  }

  /** The directory's entries; none when it cannot be read (not made yet). */
  #entries(): Dirent[] {
    try {
      return readdirSync(this.path, { withFileTypes: true })
    } catch {
      return []
    }
  }

  async listLinks(): Promise<{ unit: string; name: string }[]> {
    const out: { unit: string; name: string }[] = []
    for (const e of this.#entries()) {
      if (!e.isSymbolicLink() || !e.name.startsWith('unit:')) continue
      try {
        out.push({ unit: e.name.slice('unit:'.length), name: readlinkSync(this.#entry(e.name)) })
      } catch {
        // Gone between readdir and readlink.
      }
    }
    return out
  }

  /**
   * The files are read in one piece of work off the JavaScript thread
   * (readSmallFiles()): at start-up, with 10,000 machines, the thread lists
   * the unit: links meanwhile. The listing itself is done when this
   * returns its promise.
   */
  async list(): Promise<{ name: string; contents: string }[]> {
    // manager_enumerate_machines() skips the unit: links and anything that is not a machine name.
    const names = this.#entries().filter((e) => e.isFile() && !e.name.startsWith('unit:') && machineNameIsValid(e.name)).map((e) => e.name)
    const texts = await readSmallFiles(names.map((name) => this.#entry(name)), STATE_FILE_MAX)
    const out: { name: string; contents: string }[] = []
    names.forEach((name, i) => {
      const text = texts[i]
      // A number is an errno: ENOENT, gone between readdir and read, leaves nothing to load; a file longer than
      // any machine writes (EFBIG) is read here, so it is loaded, or refused, as before.
      const contents = typeof text === 'string' ? text : text === constants.errno.EFBIG ? readQuietly(this.#entry(name)) : undefined
      if (contents !== undefined) out.push({ name, contents })
    })
    return out
  }
}
