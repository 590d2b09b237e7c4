/**
 * A host whose PID 1 is systemd, for tests that need one: a Debian bookworm
 * guest booted by real systemd-nspawn inside a test sandbox, with systemd as
 * its PID 1 on a pure cgroup2 hierarchy (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1)
 * mounted over a subtree of the host's that is the guest's alone (a cgroup
 * namespace rooted at machine.slice/NAME-nspawn.scope/payload, as nspawn's
 * --keep-unit makes it), its own system bus, and `systemd-machined` masked.
 * This checkout and the host's `node` are bind-mounted read-only at the same
 * paths, so the guest runs the daemon from the checkout's shipped unit
 * (`installMachined()`).
 *
 * Why nspawn and not machined-spawn: the guest is the host the tests run
 * our programs on (machined-spawn among them), so it is made by the
 * reference implementation. It keeps every capability and no seccomp
 * filter (`--capability=all`, SYSTEMD_SECCOMP=0), as a host would, so
 * nested containers work inside (libvirt-lxc, machined-spawn,
 * systemd-nspawn), and gets a private network namespace with only `lo`.
 *
 * Nothing touches the host's /run or bus: nspawn runs inside the sandbox's
 * private mount namespace (its own tmpfs /run), and the guest's bus is the
 * guest's. The tree is a cached variant of the machined-spawn tests' one
 * with what the guest needs (systemd-container, libvirt's LXC and QEMU
 * drivers, dbus tools, busybox for nested guests), booted through a fresh
 * overlay so the cache is never changed.
 *
 *   const guest = await SystemdGuest.start()
 *   await guest.installMachined()             // `machined install-service`, then the unit started
 *   const r = await guest.run(['machinectl', 'list'])   // as one of the guest's services
 *   await guest.stop()
 */

import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { cachedTree, CACHE_DIR, OverlayTree, prepareFirstBoot, type TreeRecipe } from './debian-tree.ts'
import { containerInit } from './nspawn.ts'
import { eventually, REPO, Sandbox, sleep, type ExecResult } from './sandbox.ts'
import { waitBooted } from './spawn.ts'

/** The guest's packages: a systemd host with machinectl/nspawn, libvirt's LXC and QEMU drivers, dbus-monitor. */
export const GUEST_RECIPE: TreeRecipe = {
  dir: join(CACHE_DIR, 'systemd-guest-bookworm-1'),
  include: [
    'systemd', 'systemd-sysv', 'dbus', 'systemd-container', 'iproute2', 'procps', 'util-linux', 'busybox-static', 'python3',
    'libvirt-daemon', 'libvirt-daemon-driver-lxc', 'libvirt-daemon-driver-qemu', 'libvirt-clients', 'qemu-system-x86',
  ],
  prepare: (tree) => {
    prepareFirstBoot(tree)
    // machined-ts takes org.freedesktop.machine1 in the guest: the real one stays off.
    symlinkSync('/dev/null', join(tree, 'etc/systemd/system/systemd-machined.service'))
  },
}

/** The host's node binary: bound read-only at the same path in the guest. */
const NODE = process.execPath

const CGROUP_HIERARCHIES = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd', '/sys/fs/cgroup']

/** The host's v1 controller hierarchies (/sys/fs/cgroup/memory, …): none on a pure cgroup2 host. */
function controllerHierarchies(): string[] {
  if (existsSync('/sys/fs/cgroup/cgroup.procs')) return []
  return readdirSync('/sys/fs/cgroup', { withFileTypes: true })
    .filter((e) => e.isDirectory() && !['unified', 'systemd'].includes(e.name) && existsSync(join('/sys/fs/cgroup', e.name, 'cgroup.procs')))
    .map((e) => join('/sys/fs/cgroup', e.name))
}

/** Where the guest's cgroup is made: the tracking hierarchies, and with `hybrid` every v1 controller too. */
function cgroupRoots(hybrid: boolean): string[] {
  return [...CGROUP_HIERARCHIES.filter((h) => existsSync(join(h, 'cgroup.procs'))), ...(hybrid ? controllerHierarchies() : [])]
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

export interface GuestOptions {
  /** Machine name of the guest (default: a unique one). */
  readonly name?: string
  /**
   * `unified` (default): pure cgroup2. `hybrid`: the host's layout (name=systemd
   * and cgroup2, plus the v1 controllers), with each controller's subtree of
   * the guest bound writable over nspawn's read-only mount, as a host's
   * systemd has them; for what needs controllers the host binds to v1
   * (libvirt's LXC driver needs memory, cpuacct and devices). Where the host
   * is pure cgroup2 there are no v1 controllers, and `hybrid` is `unified`.
   */
  readonly cgroups?: 'unified' | 'hybrid'
  /** More systemd-nspawn options (e.g. another --bind-ro). */
  readonly nspawnArgs?: readonly string[]
}

export class SystemdGuest {
  readonly sandbox: Sandbox
  readonly name: string
  readonly #leader: () => number
  readonly #nspawn: ChildProcess
  readonly #tree: OverlayTree
  readonly #cgroup: string
  readonly #hybrid: boolean
  readonly #exited: Promise<number | null>
  readonly #output: () => string

  private constructor(parts: { sandbox: Sandbox; name: string; leader: () => number; nspawn: ChildProcess; tree: OverlayTree; cgroup: string; hybrid: boolean; exited: Promise<number | null>; output: () => string }) {
    this.#hybrid = parts.hybrid
    this.sandbox = parts.sandbox
    this.name = parts.name
    this.#leader = parts.leader
    this.#nspawn = parts.nspawn
    this.#tree = parts.tree
    this.#cgroup = parts.cgroup
    this.#exited = parts.exited
    this.#output = parts.output
  }

  /** The guest's PID 1 (its systemd) as the host sees it. */
  get leader(): number {
    return this.#leader()
  }

  /** The console and nspawn's messages so far (for assertion messages). */
  get output(): string {
    return this.#output()
  }

  /** Boots the guest (the tree is built on first use, a few minutes) and waits until its systemd is up. */
  static async start(options: GuestOptions = {}): Promise<SystemdGuest> {
    const cached = await cachedTree(GUEST_RECIPE)
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
    const hybrid = options.cgroups === 'hybrid' && controllerHierarchies().length > 0
    const moves: string[] = []
    for (const root of cgroupRoots(hybrid)) {
      makeCgroup(root, cgroup)
      moves.push(`echo $$ > ${join(root, cgroup, 'cgroup.procs')}`)
    }
    const args = [
      '-D', tree.path, '-M', name, '-b', '--register=no', '--keep-unit', '--capability=all', '--private-network',
      `--bind-ro=${REPO.replace(/\/$/, '')}`, `--bind-ro=${NODE}`, '--console=read-only',
      // A host has /dev/fuse (libvirt's LXC driver serves the container's /proc/meminfo through it).
      ...(existsSync('/dev/fuse') ? ['--bind=/dev/fuse'] : []), ...(options.nspawnArgs ?? []),
    ]
    const child = spawn(sandbox.nsenter[0]!, [...sandbox.nsenter.slice(1), 'sh', '-c', `${moves.join(' && ')} && exec systemd-nspawn "$@"`, 'sh', ...args], {
      // Unset, nspawn gives the guest the host's layout (hybrid here).
      env: { ...sandbox.env, SYSTEMD_SECCOMP: '0', ...(hybrid ? {} : { SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' }) }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout?.on('data', (c: Buffer) => { out += c.toString() })
    child.stderr?.on('data', (c: Buffer) => { out += c.toString() })
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    // From here on stop() cleans up whatever happens.
    let leader = 0
    const guest = new SystemdGuest({ sandbox, name, leader: () => leader, nspawn: child, tree, cgroup, hybrid, exited, output: () => out })
    try {
      leader = await eventually(() => {
        if (child.exitCode !== null) throw new Error(`systemd-nspawn exited (${child.exitCode}):\n${out}`)
        const pid = containerInit(child.pid!)
        if (pid === undefined) return undefined
        try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd' ? pid : undefined } catch { return undefined }
      }, 20_000, 'the guest\'s systemd to start')
      let state = await waitBooted(sandbox, leader, 60_000)
      if (hybrid && (state === 'running' || state === 'degraded')) state = await guest.#delegateControllers()
      if (state === 'running' || state === 'degraded') return guest
      const failed = await guest.enter(['systemctl', '--failed', '--no-legend'])
      throw new Error(`the guest did not boot (${state}); failed units: ${failed.stdout}\n${out.slice(-3000)}`)
    } catch (err) {
      await guest.stop()
      throw err
    }
  }

  /**
   * nspawn mounts the v1 controllers read-only in the guest, whose cgroup
   * namespace is rooted at our cgroup: remounted writable, they are the
   * guest's subtrees alone, and a re-executed systemd takes them over as a
   * host's systemd has its controllers. Returns the state after that.
   */
  async #delegateControllers(): Promise<string> {
    const r = await this.enter(['sh', '-c', 'for c in /sys/fs/cgroup/*; do case "$c" in */unified|*/systemd) ;; *) mount -o remount,bind,rw "$c" || exit 1 ;; esac; done && systemctl daemon-reexec'])
    if (r.code !== 0) throw new Error(`delegating the v1 controllers to the guest failed: ${r.stderr}`)
    return waitBooted(this.sandbox, this.leader, 60_000)
  }

  /**
   * Runs a command inside the guest as one of its own services, as
   * `systemd-run -M GUEST --pipe --wait` would (its cgroup, environment and
   * namespaces are the guest's). systemd expands ${VAR} in a unit's command
   * line: give scripts on stdin (`sh -s`), never as an argument.
   */
  run(argv: readonly string[], options: { input?: string; timeoutMs?: number; properties?: readonly string[] } = {}): Promise<ExecResult> {
    const props = (options.properties ?? []).flatMap((p) => ['-p', p])
    return this.enter(['systemd-run', '--pipe', '--wait', '--quiet', '--collect', '--service-type=exec', ...props, ...argv], options)
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

  /** The checkout's `machined` as the guest runs it: the host's node on the checkout's bin/machined.js. */
  get machinedCommand(): string[] {
    return [NODE, join(REPO, 'bin/machined.js')]
  }

  /**
   * Installs machined-ts in the guest as an admin would after a global npm
   * install (`machined install-service`: the checkout's shipped units, the
   * D-Bus activation file), then starts it with `systemctl start` unless
   * `start: false`. Returns install-service's output.
   */
  async installMachined(options: { start?: boolean } = {}): Promise<string> {
    const install = await this.enter([...this.machinedCommand, 'install-service'])
    if (install.code !== 0) throw new Error(`machined install-service failed in the guest (${install.code}):\n${install.stdout}${install.stderr}`)
    if (options.start !== false) {
      const start = await this.enter(['systemctl', 'start', 'machined-ts.service'])
      if (start.code !== 0) {
        const status = await this.enter(['systemctl', 'status', '--no-pager', '-n', '30', 'machined-ts.service'])
        throw new Error(`systemctl start machined-ts.service failed in the guest:\n${start.stderr}\n${status.stdout}`)
      }
    }
    return install.stdout
  }

  /** Powers the guest off (SIGTERM to nspawn: the guest halts), then removes every cgroup, mount and file it used. */
  async stop(): Promise<number | null> {
    const nspawn = this.#nspawnPid()
    try { process.kill(nspawn, 'SIGTERM') } catch { /* gone */ }
    let timer: NodeJS.Timeout | undefined
    const code = await Promise.race([this.#exited, new Promise<null>((r) => { timer = setTimeout(() => r(null), 30_000) })])
    clearTimeout(timer)
    if (code === null && this.#nspawn.exitCode === null) this.#nspawn.kill('SIGKILL')
    // nspawn does not take its container along when it dies: whatever is left goes.
    for (const root of cgroupRoots(this.#hybrid)) killTree(join(root, this.#cgroup))
    await sleep(200)
    for (const root of cgroupRoots(this.#hybrid)) removeTree(join(root, this.#cgroup))
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
