/**
 * A guest booted by real systemd-nspawn inside a test sandbox, for tests
 * that need a whole host of their own: ./systemd-guest.ts (systemd as PID 1)
 * and ./openrc-guest.ts (openrc-init as PID 1) are built on it. The tree is
 * a cached Debian variant (./debian-tree.ts) booted through a fresh overlay;
 * the guest keeps every capability and no seccomp filter, as a host would,
 * gets a private network namespace with only `lo` (unless told otherwise), /dev/fuse, and this
 * checkout and the host's `node` bind-mounted read-only at the same paths.
 * nspawn runs with --keep-unit in a cgroup of its own under machine.slice
 * (in every hierarchy the host tracks processes in; with `hybrid`, in every
 * v1 controller too), so the guest's cgroup namespace is rooted there.
 * Nothing touches the host's /run or bus: nspawn runs in the sandbox's
 * private mount namespace, and the guest's bus is the guest's.
 */

import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { trackingHierarchies } from '../../src/linux/cgroup-layout.ts'
import { MountTable } from '../../src/linux/mountinfo.ts'
import { cgroupLayoutOf } from './cgroups.ts'
import { cachedTree, OverlayTree, type TreeRecipe } from './debian-tree.ts'
import { containerInit } from './nspawn.ts'
import { eventually, REPO, Sandbox, sleep, type ExecResult } from './sandbox.ts'

/** The host's node binary: bound read-only at the same path in the guest. */
export const NODE = process.execPath

/** The host's v1 controller hierarchies (/sys/fs/cgroup/memory, …), from its mount table: none on a pure cgroup2 host. */
function controllerHierarchies(): string[] {
  const table = MountTable.read()
  const v1 = table.mounts.filter((m) => m.fsType === 'cgroup' && !m.superOptions.includes('name=systemd') && table.isReachable(m))
  return [...new Set(v1.map((m) => m.mountPoint))]
}

/** Where the guest's cgroup is made: the host's hierarchies that track processes (its layout), and with `hybrid` every v1 controller too. */
function cgroupRoots(hybrid: boolean): string[] {
  return [...trackingHierarchies(cgroupLayoutOf()), ...(hybrid ? controllerHierarchies() : [])]
}

/** mkdir -p in a cgroup hierarchy; a new v1 cpuset takes its parent's CPUs and memory nodes (it is empty, so unusable, otherwise). */
function makeCgroup(root: string, path: string): void {
  let dir = root
  for (const part of path.split('/')) {
    const parent = dir
    dir = join(dir, part)
    if (existsSync(dir)) continue
    mkdirSync(dir)
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      if (existsSync(join(dir, f))) writeFileSync(join(dir, f), readFileSync(join(parent, f)))
    }
  }
}

function killTree(dir: string): void {
  if (!existsSync(dir)) return
  let pids: string[] = []
  try { pids = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '') } catch { /* gone */ }
  for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ } }
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) killTree(join(dir, e.name))
}

function removeTree(dir: string): void {
  if (!existsSync(dir)) return
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name))
  try { rmdirSync(dir) } catch { /* busy: leave it */ }
}

let counter = 0

export interface BootOptions {
  readonly recipe: TreeRecipe
  /** The comm of the tree's init once it runs (systemd, openrc-init). */
  readonly init: string
  /** Machine name of the guest (default: a unique one). */
  readonly name?: string
  /** Also create (and remove) the guest's cgroup in every v1 controller hierarchy. */
  readonly hybrid?: boolean
  /** Environment for systemd-nspawn (e.g. SYSTEMD_NSPAWN_UNIFIED_HIERARCHY). */
  readonly env?: NodeJS.ProcessEnv
  /** A network namespace of the guest's own, with only `lo` (default true). */
  readonly privateNetwork?: boolean
  /** More systemd-nspawn options. */
  readonly nspawnArgs?: readonly string[]
}

export interface GuestParts {
  readonly sandbox: Sandbox
  readonly name: string
  readonly leader: () => number
  readonly nspawn: ChildProcess
  readonly tree: OverlayTree
  readonly cgroup: string
  readonly hybrid: boolean
  readonly exited: Promise<number | null>
  readonly output: () => string
}

export class NspawnGuest {
  readonly sandbox: Sandbox
  readonly name: string
  /** Whether the guest's cgroup was made in the v1 controllers too. */
  readonly hybrid: boolean
  readonly #leader: () => number
  readonly #nspawn: ChildProcess
  readonly #tree: OverlayTree
  readonly #cgroup: string
  readonly #exited: Promise<number | null>
  readonly #output: () => string

  constructor(parts: GuestParts) {
    this.sandbox = parts.sandbox
    this.name = parts.name
    this.hybrid = parts.hybrid
    this.#leader = parts.leader
    this.#nspawn = parts.nspawn
    this.#tree = parts.tree
    this.#cgroup = parts.cgroup
    this.#exited = parts.exited
    this.#output = parts.output
  }

  /** The guest's PID 1 as the host sees it. */
  get leader(): number {
    return this.#leader()
  }

  /** The console and nspawn's messages so far (for assertion messages). */
  get output(): string {
    return this.#output()
  }

  /**
   * Boots the recipe's tree (built on first use, a few minutes) until its
   * init runs, then `up(guest)` must hold; anything failing on the way stops
   * and removes everything. `this` picks the class the guest is made as.
   */
  static async boot<T extends NspawnGuest>(this: new (parts: GuestParts) => T, options: BootOptions, up: (guest: T) => Promise<void>): Promise<T> {
    const cached = await cachedTree(options.recipe)
    const sandbox = await Sandbox.start({ daemon: false, bus: false })
    const name = options.name ?? sandbox.name(`guest${counter++}`)
    // nspawn --keep-unit uses the cgroup it was started in: one of its own under machine.slice, never the host's root.
    const cgroup = `machine.slice/${name}-nspawn.scope`
    let tree: OverlayTree
    try {
      tree = await OverlayTree.create(sandbox, cached)
    } catch (err) {
      await sandbox.stop()
      throw err
    }
    const hybrid = options.hybrid === true && controllerHierarchies().length > 0
    const moves: string[] = []
    for (const root of cgroupRoots(hybrid)) {
      makeCgroup(root, cgroup)
      moves.push(`echo $$ > ${join(root, cgroup, 'cgroup.procs')}`)
    }
    const args = [
      '-D', tree.path, '-M', name, '-b', '--register=no', '--keep-unit', '--capability=all', ...(options.privateNetwork === false ? [] : ['--private-network']),
      `--bind-ro=${REPO.replace(/\/$/, '')}`, `--bind-ro=${NODE}`, '--console=read-only',
      // A host has /dev/fuse (libvirt's LXC driver serves the container's /proc/meminfo through it).
      ...(existsSync('/dev/fuse') ? ['--bind=/dev/fuse'] : []), ...(options.nspawnArgs ?? []),
    ]
    const child = spawn(sandbox.nsenter[0]!, [...sandbox.nsenter.slice(1), 'sh', '-c', `${moves.join(' && ')} && exec systemd-nspawn "$@"`, 'sh', ...args], {
      env: { ...sandbox.env, SYSTEMD_SECCOMP: '0', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout?.on('data', (c: Buffer) => { out += c.toString() })
    child.stderr?.on('data', (c: Buffer) => { out += c.toString() })
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    // From here on stop() cleans up whatever happens.
    let leader = 0
    const guest = new this({ sandbox, name, leader: () => leader, nspawn: child, tree, cgroup, hybrid, exited, output: () => out })
    try {
      leader = await eventually(() => {
        if (child.exitCode !== null) throw new Error(`systemd-nspawn exited (${child.exitCode}):\n${out}`)
        const pid = containerInit(child.pid!)
        if (pid === undefined) return undefined
        try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === options.init ? pid : undefined } catch { return undefined }
      }, 20_000, `the guest's ${options.init} to start`)
      await up(guest)
      return guest
    } catch (err) {
      await guest.stop()
      throw err
    }
  }

  /**
   * Runs a command in all the guest's namespaces (nsenter -a, as
   * `machinectl shell` reaches them), but in the sandbox's cgroup: for
   * reading state and for clients (systemctl, busctl, virsh); what must live
   * in the guest's cgroup tree goes through `run()`.
   */
  enter(argv: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    return this.sandbox.exec(['nsenter', '-t', String(this.leader), '-a', '--', 'env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'LC_ALL=C.UTF-8', 'SYSTEMD_COLORS=0', 'SYSTEMD_PAGER=', 'TERM=dumb', ...argv], {
      timeoutMs: options.timeoutMs ?? 60_000, ...(options.input === undefined ? {} : { input: options.input }),
    })
  }

  /** A path in the guest's file system as this (host) process reaches it. */
  hostPath(guestPath: string): string {
    return `/proc/${this.leader}/root${guestPath}`
  }

  /** Writes a file into the guest (its directories made); `mode` defaults to 0644. */
  writeFile(guestPath: string, content: string | Uint8Array, mode = 0o644): void {
    const path = this.hostPath(guestPath)
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, content)
    chmodSync(path, mode)
  }

  readFile(guestPath: string): string {
    return readFileSync(this.hostPath(guestPath), 'utf8')
  }

  /** Copies a host file into the guest. */
  copyIn(hostFile: string, guestPath: string, mode?: number): void {
    this.writeFile(guestPath, readFileSync(hostFile), mode ?? 0o644)
  }

  /** Stops the guest (SIGTERM to nspawn, which asks its init to halt), then removes every cgroup, mount and file it used. */
  async stop(): Promise<number | null> {
    const nspawn = this.#nspawnPid()
    try { process.kill(nspawn, 'SIGTERM') } catch { /* gone */ }
    let timer: NodeJS.Timeout | undefined
    const code = await Promise.race([this.#exited, new Promise<null>((r) => { timer = setTimeout(() => r(null), 30_000) })])
    clearTimeout(timer)
    if (code === null && this.#nspawn.exitCode === null) this.#nspawn.kill('SIGKILL')
    // nspawn does not take its container along when it dies: whatever is left goes.
    for (const root of cgroupRoots(this.hybrid)) killTree(join(root, this.#cgroup))
    await sleep(200)
    for (const root of cgroupRoots(this.hybrid)) removeTree(join(root, this.#cgroup))
    this.#tree.remove()
    await this.sandbox.stop()
    return code
  }

  #nspawnPid(): number {
    const stack = [this.#nspawn.pid!]
    while (stack.length > 0) {
      const p = stack.pop()!
      try { if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'systemd-nspawn') return p } catch { continue }
      for (const t of (() => { try { return readdirSync(`/proc/${p}/task`) } catch { return [] } })()) {
        try { stack.push(...readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(' ').filter((s) => s.trim() !== '').map(Number)) } catch { /* gone */ }
      }
    }
    return this.#nspawn.pid!
  }
}
