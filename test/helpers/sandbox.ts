/**
 * A throwaway world for end-to-end tests: a private mount namespace with a
 * tmpfs on /run (so /run/systemd/machines, /run/systemd/system and the bus
 * socket are ours alone), the stock `dbus-daemon --system` inside it, and
 * our daemon started as a user starts it (`npx machined`). Real clients
 * (busctl, machinectl, ps, systemd-nspawn) run inside through nsenter.
 * Cgroups are not namespaced: machines get unique names and every cgroup a
 * test made is removed afterwards.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { allHierarchies, type CgroupLayout } from '../../src/linux/cgroup-layout.ts'
import { MountTable } from '../../src/linux/mountinfo.ts'
import { killCgroupTree, removeCgroupTree } from '../../src/linux/cgroup-tree.ts'
import { cgroupLayoutOf, machineScopeCgroup, trackingDirs } from './cgroups.ts'

export const REPO = fileURLToPath(new URL('../..', import.meta.url))
export const BUS_ADDRESS = 'unix:path=/run/dbus/system_bus_socket'

export interface ExecResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Somewhere real clients run (a sandbox, a guest): all the client helpers need of it. */
export interface Exec {
  exec(argv: string[], options?: { timeoutMs?: number; input?: string }): Promise<ExecResult>
}

/**
 * Where the sandboxes' cgroups are cleaned up from: every hierarchy of the
 * host's layout. Cgroups are not namespaced, and a sandbox with a pure
 * cgroup2 view mounts the host's own cgroup2 hierarchy, so this reaches
 * whatever any sandbox made.
 */
function hostHierarchies(): string[] {
  return allHierarchies(cgroupLayoutOf())
}

/**
 * A pure cgroup2 view inside the sandbox: the v1 hierarchies (and the tmpfs
 * holding them) unmounted, the host's cgroup2 hierarchy mounted over
 * /sys/fs/cgroup. A cgroup2 mount made in the initial cgroup namespace
 * applies its options (nsdelegate, memory_recursiveprot, …) to the whole
 * hierarchy, so it is mounted with the host's own; its root offers only
 * the controllers no v1 hierarchy has bound (on a hybrid host usually none
 * worth having: pids and memory stay v1's).
 */
function unifiedViewScript(): string {
  const host = MountTable.read('/proc/self/mountinfo').find((m) => m.fsType === 'cgroup2')
  if (host === undefined) throw new Error('a pure cgroup2 view is made of the host\'s cgroup2 hierarchy, and the host mounts none')
  const options = host.superOptions.filter((o) => o !== 'rw' && o !== 'ro')
  return `umount -R /sys/fs/cgroup 2>/dev/null; mount -t cgroup2 ${options.length > 0 ? `-o ${options.join(',')} ` : ''}cgroup2 /sys/fs/cgroup && `
}

function waitForLine(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out waiting for ${pattern}; saw:\n${seen}`)) }, timeoutMs)
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString()
      const m = pattern.exec(seen)
      if (m !== null) { cleanup(); resolve(m[0]) }
    }
    const onExit = (code: number | null): void => { cleanup(); reject(new Error(`exited (${code}) before ${pattern}; saw:\n${seen}`)) }
    const cleanup = (): void => { clearTimeout(timer); child[stream]?.off('data', onData); child.off('exit', onExit) }
    child[stream]?.on('data', onData)
    child.once('exit', onExit)
  })
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Polls `check` until it returns a value other than undefined/false. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

let counter = 0

/**
 * `images`: a machine image pool for the sandbox. `pool` (a directory of
 * the host) is bind-mounted over /var/lib/machines, so the host's pool is
 * never touched; `writable` directories (e.g. /etc, /usr/lib) get an
 * overlay whose changes live in the sandbox's /run, so a test can put
 * images in /etc/machines or /usr/lib/machines, or settings in
 * /etc/systemd/nspawn, without changing the host.
 */
export interface SandboxImages {
  readonly pool: string
  readonly writable?: readonly string[]
}

export interface SandboxOptions {
  readonly daemon?: boolean
  readonly daemonArgs?: string[]
  readonly bus?: boolean
  readonly hidePolicies?: boolean
  readonly pidns?: boolean
  readonly images?: SandboxImages
  /** A host of its own (the fleet tests): a private UTS namespace with this hostname, this machine ID over /etc/machine-id. */
  readonly host?: { hostname: string; machineId: string }
  /** 'unified': a pure cgroup2 view of the host's hierarchies; by default the host's own layout. */
  readonly cgroup?: 'host' | 'unified'
}

/**
 * Image directories of the host that are not under /usr (whose images are
 * read-only): a sandbox always hides them, so no daemon under test can
 * change or remove the host's images (a fuzzer's CleanPool would).
 */
const HOST_IMAGE_DIRS = ['/etc/machines', '/var/lib/container']

/** The shell commands that set up `images` inside the namespace (after /run is ours). */
function imagesSetup(images: SandboxImages): string {
  const overlay = (dir: string, n: number): string =>
    `mkdir -p /run/.overlay/${n}/upper /run/.overlay/${n}/work && mount -t overlay overlay -o lowerdir=${dir},upperdir=/run/.overlay/${n}/upper,workdir=/run/.overlay/${n}/work ${dir}`
  const writable = [...(images.writable ?? [])]
  // Without /var/lib/machines on the host there is nothing to bind over: /var/lib is made writable to make it.
  const steps = writable.map(overlay)
  steps.push(`{ [ -d /var/lib/machines ] || { ${overlay('/var/lib', writable.length)} && mkdir /var/lib/machines; }; }`)
  steps.push(`mount --bind ${images.pool} /var/lib/machines`)
  for (const dir of HOST_IMAGE_DIRS) steps.push(`{ [ ! -d ${dir} ] || mount -t tmpfs -o mode=700 tmpfs ${dir}; }`)
  return steps.join(' && ')
}

/** PID 1 of a sandbox's PID namespace: reaps every orphan, so PIDs come free at once. */
const REAPER = [
  'import os, time',
  'while True:',
  '    try:',
  '        os.waitpid(-1, 0)',
  '    except ChildProcessError:',
  '        time.sleep(0.05)',
].join('\n')

export class Sandbox {
  readonly #holder: ChildProcess
  #daemon: ChildProcess | undefined
  #daemonLog = ''
  readonly #leaders = new Set<ChildProcess>()
  readonly #names = new Set<string>()
  readonly #prefix: string
  readonly #sliceExisted: Map<string, boolean>
  readonly #pidns: boolean
  readonly #uts: boolean
  /** The empty pool a sandbox without one of its own gets, removed at the end. */
  readonly #ownPool: string | undefined
  readonly daemonArgs: string[]

  private constructor(holder: ChildProcess, daemonArgs: string[], pidns: boolean, uts: boolean, ownPool: string | undefined) {
    this.#holder = holder
    this.#ownPool = ownPool
    this.#pidns = pidns
    this.#uts = uts
    this.daemonArgs = daemonArgs
    this.#prefix = `t${process.pid.toString(36)}${(counter++).toString(36)}`
    this.#sliceExisted = new Map(hostHierarchies().map((r) => [r, existsSync(join(r, 'machine.slice'))]))
  }

  /** Starts the namespace and the bus; `startDaemon` then starts machined. */
  /**
   * `bus: false` leaves the bus to the daemon (its embedded default);
   * `hidePolicies: true` hides every installed D-Bus policy file inside the
   * namespace, as on a host without systemd-container's. `pidns: true`
   * adds a private PID namespace (with its own /proc) that the bus, the
   * daemon and everything run through exec() join, so a test can pick the
   * PIDs of new processes (/proc/sys/kernel/ns_last_pid); its PID 1 reaps
   * every orphan, so a dead process's PID is free again at once.
   * `host` makes the sandbox a host of its own, as the fleet tests need: a
   * private UTS namespace with that hostname, and that machine ID bind-mounted
   * over /etc/machine-id (from the private /run).
   * `cgroup: 'unified'` gives the sandbox a pure cgroup2 view of the host's
   * hierarchies (unifiedViewScript()); by default it sees the host's layout.
   */
  static async start(options: SandboxOptions = {}): Promise<Sandbox> {
    const hide = options.hidePolicies === true
      ? ' && mount -t tmpfs tmpfs /usr/share/dbus-1/system.d && mkdir -p /etc/dbus-1/system.d && mount -t tmpfs tmpfs /etc/dbus-1/system.d'
      : ''
    // Without a pool of its own, a sandbox gets an empty one: the host's pool is never the daemon's.
    const ownPool = options.images === undefined ? mkdtempSync('/var/tmp/machined-ts-sandbox-pool-') : undefined
    const images = ` && ${imagesSetup(options.images ?? { pool: ownPool! })}`
    const pidns = options.pidns === true
    const host = options.host === undefined
      ? ''
      : ` && hostname ${options.host.hostname} && echo ${options.host.machineId} >/run/machine-id && mount --bind /run/machine-id /etc/machine-id`
    const cgroups = options.cgroup === 'unified' ? unifiedViewScript() : ''
    // REAPER has newlines and no single quote: one sh word as it stands.
    const init = pidns ? `exec python3 -c '${REAPER}'` : 'exec sleep 100000'
    const holder = spawn('unshare', ['-m', '--propagation', 'private', ...(pidns ? ['--pid', '--fork', '--kill-child', '--mount-proc'] : []),
      ...(options.host === undefined ? [] : ['--uts']), '--', 'sh', '-c',
      `${cgroups}mount -t tmpfs -o mode=755 tmpfs /run && mkdir -p /run/systemd/system /run/dbus${hide}${images}${host} && echo ready && ${init}`],
      { stdio: ['ignore', 'pipe', 'inherit'] })
    await waitForLine(holder, 'stdout', /ready/, 10_000)
    const sb = new Sandbox(holder, options.daemonArgs ?? [], pidns, options.host !== undefined, ownPool)
    if (options.bus !== false) {
      const bus = sb.execSync(['dbus-daemon', '--system', '--fork'])
      if (bus.code !== 0) throw new Error(`dbus-daemon failed: ${bus.stderr}`)
    }
    if (options.daemon !== false) await sb.startDaemon()
    return sb
  }

  /** A machine name no other test or run uses (its scope is removed at the end). */
  name(base: string): string {
    return this.track(`${base}-${this.#prefix}`)
  }

  /** Removes this machine's scope at the end too (for fixed names such as "golden"). */
  track(name: string): string {
    this.#names.add(name)
    return name
  }

  /** A path inside the namespace as this (outside) process reaches it, e.g. the bus socket. */
  hostPath(path: string): string {
    return `/proc/${this.#holder.pid}/root${path}`
  }

  /** The cgroup layout mounted inside the sandbox: what its daemon and clients see. */
  get cgroupLayout(): CgroupLayout {
    return cgroupLayoutOf(`/proc/${this.#holder.pid}/mountinfo`)
  }

  /** A machine's scope in every hierarchy that tracks processes in the sandbox's layout, as this process reaches them. */
  scopeDirs(name: string): string[] {
    return trackingDirs(this.cgroupLayout, machineScopeCgroup(name), this.hostPath(''))
  }

  get nsenter(): string[] {
    return ['nsenter', ...this.#namespaces, '--']
  }

  /** nsenter's options to join the sandbox's namespaces (the PID namespace's for new processes). */
  get #namespaces(): string[] {
    const ns = (name: string, file = name): string => `--${name}=/proc/${this.#holder.pid}/ns/${file}`
    return [ns('mount', 'mnt'), ...(this.#pidns ? [ns('pid', 'pid_for_children')] : []), ...(this.#uts ? [ns('uts')] : [])]
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: BUS_ADDRESS, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '', LC_ALL: 'C.UTF-8', TZ: 'UTC' }
  }

  /** Starts machined inside the namespace, the way the README says: `npx machined`. */
  async startDaemon(extraArgs: string[] = []): Promise<void> {
    if (this.#daemon !== undefined) throw new Error('daemon already running')
    // Entering a mount namespace resets the working directory to its root: give nsenter ours.
    const nsenter = ['nsenter', ...this.#namespaces, `--wd=${REPO}`, '--']
    const child = spawn(nsenter[0]!, [...nsenter.slice(1), 'npx', '--no-install', 'machined', ...this.daemonArgs, ...extraArgs], {
      env: this.env, stdio: ['ignore', 'ignore', 'pipe'],
    })
    child.stderr?.on('data', (c: Buffer) => { this.#daemonLog += c.toString() })
    this.#daemon = child
    try {
      await waitForLine(child, 'stderr', /Serving org\.freedesktop\.machine1/, 20_000)
    } catch (e) {
      // A daemon that never came up must not outlive the test: the file would never end.
      // stopDaemon kills bin/machined, or npx itself while npx is still installing, and waits for npx to exit.
      await this.stopDaemon('SIGKILL')
      throw e
    }
  }

  get daemonLog(): string {
    return this.#daemonLog
  }

  get daemonPid(): number | undefined {
    return this.#daemon?.pid
  }

  /**
   * Stops machined with `signal` and resolves to its exit code, as npx
   * passes it on (npx runs the daemon as its child: the signal goes to the
   * daemon itself, as it would from `kill $(pidof machined)`).
   */
  async stopDaemon(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.#daemon
    if (child === undefined) return null
    this.#daemon = undefined
    if (child.exitCode !== null) return child.exitCode
    const exited = new Promise<number | null>((r) => child.once('exit', (code, sig) => r(code ?? (sig === null ? null : 128))))
    try { process.kill(this.#leafPid(child.pid!), signal) } catch { /* gone */ }
    return exited
  }

  /** npx's child running bin/machined.js (not npx, not the bus it may have started). */
  #leafPid(pid: number): number {
    const cmdline = (p: number): string => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8') } catch { return '' } }
    const stack = [pid]
    while (stack.length > 0) {
      const p = stack.pop()!
      if (cmdline(p).includes('bin/machined')) return p
      const r = spawnSync('pgrep', ['-P', String(p)], { encoding: 'utf8' })
      stack.push(...r.stdout.split('\n').filter((l) => l.trim() !== '').map(Number))
    }
    return pid
  }

  /** A leader that forks its children only after `release()`, once it sits in its machine's scope. */
  async spawnGatedLeader(script: string): Promise<{ leader: ChildProcess; release: () => void }> {
    const gate = `/tmp/machined-ts-gate-${process.pid}-${counter++}`
    const leader = await this.spawnLeader(['sh', '-c', `while [ ! -e ${gate} ]; do sleep 0.02; done; rm -f ${gate}; ${script}`])
    return { leader, release: () => writeFileSync(gate, '') }
  }

  execSync(argv: string[], options: { input?: string } = {}): ExecResult {
    const r = spawnSync(this.nsenter[0]!, [...this.nsenter.slice(1), ...argv], { env: this.env, encoding: 'utf8', input: options.input, timeout: 60_000 })
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
  }

  exec(argv: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.nsenter[0]!, [...this.nsenter.slice(1), ...argv], { env: this.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout?.on('data', (c: Buffer) => { stdout += c.toString() })
      child.stderr?.on('data', (c: Buffer) => { stderr += c.toString() })
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timed out: ${argv.join(' ')}`)) }, options.timeoutMs ?? 30_000)
      child.on('error', (e) => { clearTimeout(timer); reject(e) })
      child.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, stdout, stderr }) })
      if (options.input !== undefined) {
        child.stdin?.on('error', () => undefined) // a command that does not read its input
        child.stdin?.end(options.input)
      }
    })
  }

  /** A process to lead a machine: `sleep` unless told otherwise; killed at the end. */
  async spawnLeader(argv: string[] = ['sleep', '1000']): Promise<ChildProcess> {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' })
    this.#leaders.add(child)
    child.once('exit', () => this.#leaders.delete(child))
    await new Promise<void>((resolve, reject) => { child.once('spawn', resolve); child.once('error', reject) })
    return child
  }

  async stop(): Promise<void> {
    for (const l of this.#leaders) l.kill('SIGKILL')
    // Whatever else still runs in our scopes (children of leaders) goes too; the daemon may remove a scope at any moment.
    for (const name of this.#names) for (const dir of trackingDirs(cgroupLayoutOf(), machineScopeCgroup(name))) killCgroupTree(dir, 9)
    await sleep(200)
    await this.stopDaemon('SIGTERM')
    // The bus forked away from us; its pid file sits in our private /run (a PID of the sandbox's namespace, if it has one).
    const busPid = Number(this.execSync(['cat', '/run/dbus/pid']).stdout.trim())
    if (busPid > 0) {
      if (this.#pidns) this.execSync(['kill', String(busPid)])
      else { try { process.kill(busPid, 'SIGTERM') } catch { /* gone */ } }
    }
    // With a PID namespace, its PID 1 goes with the holder (--kill-child), and every process in it with PID 1.
    this.#holder.kill('SIGKILL')
    await sleep(100)
    this.removeCgroups()
    if (this.#ownPool !== undefined) rmSync(this.#ownPool, { recursive: true, force: true })
  }

  /** Removes the scopes of this sandbox's machines (depth first), and machine.slice if we made it. */
  removeCgroups(): void {
    for (const root of hostHierarchies()) {
      const slice = join(root, 'machine.slice')
      if (!existsSync(slice)) continue
      for (const name of this.#names) removeQuietly(join(root, machineScopeCgroup(name)))
      if (this.#sliceExisted.get(root) === false) removeQuietly(slice, false)
    }
  }
}

/** removeCgroupTree(), leaving whatever cannot go (still busy, or in a state rmdir refuses) for the next test's run. */
function removeQuietly(dir: string, recurse = true): void {
  try { removeCgroupTree(dir, { recurse }) } catch { /* leave it */ }
}
