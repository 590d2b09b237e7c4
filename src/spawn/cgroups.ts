/**
 * The container's cgroup, host side. With --register=yes machined makes
 * machine.slice/machine-NAME.scope and moves the container's PID 1 in
 * (CreateMachine); we only find that scope, wait for it to empty when the
 * container ends, and leave its removal to machined. Without machined
 * (--register=no) there is no service manager to ask for a scope (nspawn
 * would call systemd's StartTransientUnit), so we make the same scope
 * ourselves; with --keep-unit the container gets a "payload" cgroup below
 * ours, as nspawn's create_subcgroup() does. Either way we remove what we
 * made, depth first (the guest's systemd makes cgroups below it).
 *
 * Hosts are hybrid (cgroup2 at /sys/fs/cgroup/unified plus name=systemd)
 * or pure cgroup2 (at /sys/fs/cgroup); we handle both.
 * @module
 */

import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { machineScopeName } from '../protocol/unit-name.ts'

export interface CgroupMounts {
  /** Where cgroup2 is mounted (/sys/fs/cgroup or /sys/fs/cgroup/unified). */
  readonly unified: string | undefined
  /** Where the name=systemd v1 hierarchy is mounted, on hybrid hosts. */
  readonly systemd: string | undefined
}

/** Reads /proc/self/mountinfo's "… - cgroup2 …" and "… - cgroup … name=systemd" lines. */
export function parseCgroupMounts(mountinfo: string): CgroupMounts {
  let unified: string | undefined
  let systemd: string | undefined
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ')
    if (sep < 0) continue
    const mountPoint = unescapeMountinfo(line.slice(0, sep).split(' ')[4] ?? '')
    const [fstype, , superOptions = ''] = line.slice(sep + 3).split(' ')
    if (fstype === 'cgroup2') unified ??= mountPoint
    else if (fstype === 'cgroup' && superOptions.split(',').includes('name=systemd')) systemd ??= mountPoint
  }
  return { unified, systemd }
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)))
}

/** A process's paths in the cgroup2 ("0::") and name=systemd hierarchies, from /proc/PID/cgroup. */
export function parseProcCgroup(text: string): { unified: string | undefined; systemd: string | undefined } {
  let unified: string | undefined
  let systemd: string | undefined
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line)
    if (m === null) continue
    if (m[1] === '0' && m[2] === '') unified = m[3]
    else if (m[2]!.split(',').includes('name=systemd')) systemd = m[3]
  }
  return { unified, systemd }
}

export function hostCgroupMounts(): CgroupMounts {
  return parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'))
}

function procCgroup(pid: number | 'self'): { unified: string | undefined; systemd: string | undefined } {
  return parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))
}

/** One cgroup in each hierarchy the host tracks processes in. */
export class ContainerCgroup {
  /** Host directories, tracking hierarchy (cgroup2 when there is one) first. */
  readonly dirs: readonly string[]
  /** Directories we made and must remove (empty when machined made them). */
  readonly #owned: readonly string[]

  private constructor(dirs: string[], owned: string[]) {
    this.dirs = dirs
    this.#owned = owned
  }

  /** The cgroup `pid` sits in now (machined's scope, after CreateMachine). */
  static of(pid: number, mounts: CgroupMounts = hostCgroupMounts()): ContainerCgroup {
    const paths = procCgroup(pid)
    const dirs: string[] = []
    if (mounts.unified !== undefined && paths.unified !== undefined) dirs.push(join(mounts.unified, paths.unified))
    if (mounts.systemd !== undefined && paths.systemd !== undefined) dirs.push(join(mounts.systemd, paths.systemd))
    return new ContainerCgroup(dirs, [])
  }

  /**
   * Makes machine.slice/machine-NAME.scope (--register=no) or a "payload"
   * cgroup below our own (--keep-unit) and moves `pid` there.
   */
  static create(pid: number, placement: { kind: 'scope'; machine: string } | { kind: 'payload' }, mounts: CgroupMounts = hostCgroupMounts()): ContainerCgroup {
    const ours = procCgroup('self')
    const dirs: string[] = []
    const owned: string[] = []
    const hierarchies: [string | undefined, string | undefined][] = [[mounts.unified, ours.unified], [mounts.systemd, ours.systemd]]
    try {
      for (const [mount, own] of hierarchies) {
        if (mount === undefined || own === undefined) continue
        let rel: string
        if (placement.kind === 'scope') {
          rel = `machine.slice/${machineScopeName(placement.machine)}`
          if (!existsSync(join(mount, 'machine.slice'))) owned.push(join(mount, 'machine.slice'))
        } else {
          // A container must not manage the host's root cgroup (Container Interface: no top-level cgroups).
          if (own === '/') throw new Error('--keep-unit needs machined-spawn to run in a cgroup of its own, not the root cgroup')
          rel = join(own.slice(1), 'payload')
        }
        const dir = join(mount, rel)
        if (existsSync(join(dir, 'cgroup.procs')) && populated(dir)) throw new Error(`Cgroup ${dir} is in use already`)
        removeTree(dir) // an empty leftover of an earlier run
        mkdirSync(dir, { recursive: true })
        owned.push(dir)
        writeFileSync(join(dir, 'cgroup.procs'), `${pid}\n`)
        dirs.push(dir)
      }
      if (dirs.length === 0) throw new Error('No cgroup hierarchy to put the container in')
    } catch (err) {
      new ContainerCgroup(dirs, owned).remove()
      throw err
    }
    return new ContainerCgroup(dirs, owned)
  }

  /** Whether any process is left in the cgroup or below it. */
  populated(): boolean {
    const tracking = this.dirs[0]
    return tracking !== undefined && populated(tracking)
  }

  /** Waits until the cgroup is empty; after `graceMs` whatever is left is killed (the PID namespace is gone by then anyway). */
  async waitEmpty(graceMs = 5000): Promise<void> {
    const deadline = Date.now() + graceMs
    while (this.populated()) {
      if (Date.now() > deadline) for (const dir of this.dirs) killTree(dir)
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  /** Removes the cgroups we made, sub-cgroups of the guest first. */
  remove(): void {
    for (const dir of [...this.#owned].reverse()) removeTree(dir, !dir.endsWith('/machine.slice'))
  }
}

function populated(dir: string): boolean {
  try {
    const events = readFileSync(join(dir, 'cgroup.events'), 'utf8')
    return /^populated 1$/m.test(events)
  } catch {
    // cgroup v1 has no cgroup.events: look for processes anywhere below.
    return pids(dir).length > 0 || subdirs(dir).some(populated)
  }
}

function pids(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'latin1').split('\n').filter((l) => l !== '').map(Number)
  } catch {
    return []
  }
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name))
  } catch {
    return []
  }
}

function killTree(dir: string): void {
  for (const pid of pids(dir)) {
    try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
  }
  for (const sub of subdirs(dir)) killTree(sub)
}

function removeTree(dir: string, recurse = true): void {
  if (recurse) for (const sub of subdirs(dir)) removeTree(sub)
  try {
    rmdirSync(dir)
  } catch {
    // Gone already, or still busy (someone else's machine in machine.slice): leave it.
  }
}
