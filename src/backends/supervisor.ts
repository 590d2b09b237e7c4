/**
 * The daemon's own supervisor of launchers, for hosts where systemd is not
 * PID 1 (what machined-spawn@.service and machined-vmspawn@.service are
 * where it is): `machined-spawn -M NAME -b` for an image of the pool, or
 * machined-vmspawn for a raw image with a kernel beside it
 * (linux/image-search.ts vmBootFiles()). What it copies from a unit:
 *
 * - Restart=on-failure: a launcher that ends with a status other than 0, or
 *   by a signal, after its machine had registered, is started again (after
 *   100 ms, systemd's RestartSec=), at most 5 times in 10 s (systemd's
 *   start limit); one that fails before its machine ever registered is
 *   not: that start failed, and says so. A machine being terminated
 *   (TerminateMachine) is not restarted either.
 * - Its output goes to a log per machine (supervisor-files.ts).
 * - The launchers do not die with the daemon: each runs in a session of its
 *   own, and its PID and start time are on file, so a restarted daemon
 *   adopts it (watching it by pidfd) instead of starting another; how an
 *   adopted launcher ended it reads from the file the launcher writes its
 *   exit code to (linux/exit-status.ts).
 * - Nothing is left running when a machine stops: the launcher itself
 *   ends with its machine (poweroff, terminate), and takes everything it
 *   made along.
 * @module
 */

import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { LimitsExceededError } from '../protocol/errors.ts'
import { EXIT_STATUS_ENV } from '../linux/exit-status.ts'
import { vmBootFiles } from '../linux/image-search.ts'
import type { Disposable, Image, ImagePool, Launch, LaunchKind, Log, MachineServices, ProcessHandle, Processes } from '../core/ports.ts'
import { EnabledMachines, LauncherLogs, LauncherRecords, type LauncherRecord } from './supervisor-files.ts'

/** At most this many launchers run, and this many machines are enabled. */
export const MAX_LAUNCHERS = 1024
/** systemd's RestartSec= default, StartLimitIntervalSec= and StartLimitBurst=. */
const RESTART_DELAY_MS = 100
const START_LIMIT_INTERVAL_MS = 10_000
const START_LIMIT_BURST = 5
const LOG_CHECK_MS = 60_000

/** How long a restart waits for the old machine to leave the registry (machined collects it once its scope is empty). */
const RESTART_WAIT_MS = 10_000

export interface SupervisorOptions {
  /** Where launcher records live (RUNTIME/launchers). */
  readonly runtimeDir: string
  /** Logs per machine (/var/log/machined-ts). */
  readonly logDir: string
  /** Machines started with the daemon (/etc/machined-ts/enabled). */
  readonly enabledDir: string
  /** The bus the launchers register on: the daemon's own. */
  readonly busAddress: string
  readonly processes: Processes
  readonly images: ImagePool
  readonly log: Log
  /** Whether a machine of this name is registered (one started by hand is not started again). */
  readonly isRegistered: (name: string) => boolean
  readonly maxLaunchers?: number
}

/** One launcher the supervisor runs or has adopted. */
interface Run {
  readonly name: string
  readonly kind: LaunchKind
  readonly pid: number
  readonly startTime: bigint
  registered: boolean
  stopping: boolean
  /** When this machine's launcher was started, for the start limit (kept across restarts). */
  readonly starts: number[]
  readonly ended: Promise<string>
  resolveEnded(message: string): void
  watch: Disposable | undefined
}

function launcherBin(kind: LaunchKind): string {
  return fileURLToPath(new URL(kind === 'vm' ? '../../bin/machined-vmspawn.js' : '../../bin/machined-spawn.js', import.meta.url))
}

/** The launcher's command line for an image (nspawn@'s `--machine=%i --boot`; a VM's files beside its raw image). */
export function launcherArgv(image: Pick<Image, 'name' | 'type' | 'path'>): { kind: LaunchKind; argv: string[] } {
  const vm = vmBootFiles(image)
  if (vm === undefined) return { kind: 'container', argv: [launcherBin('container'), `--machine=${image.name}`, '--boot', '--console=read-only'] }
  return {
    kind: 'vm',
    argv: [launcherBin('vm'), `--machine=${image.name}`, `--image=${image.path}`, `--kernel=${vm.kernel}`,
      ...(vm.initrd === undefined ? [] : [`--initrd=${vm.initrd}`]), ...(vm.cmdline === undefined ? [] : [`--append=${vm.cmdline}`]), '--console=read-only'],
  }
}

export class Supervisor implements MachineServices {
  readonly #options: SupervisorOptions
  readonly #records: LauncherRecords
  readonly #logs: LauncherLogs
  readonly #enabled: EnabledMachines
  readonly #runs = new Map<string, Run>()
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #logCheck: NodeJS.Timeout
  #disposed = false

  constructor(options: SupervisorOptions) {
    this.#options = options
    this.#records = new LauncherRecords(options.runtimeDir)
    this.#logs = new LauncherLogs(options.logDir)
    this.#enabled = new EnabledMachines(options.enabledDir, options.maxLaunchers ?? MAX_LAUNCHERS)
    this.#logCheck = setInterval(() => { for (const name of this.#runs.keys()) void this.#logs.trim(name).catch(() => undefined) }, LOG_CHECK_MS)
    this.#logCheck.unref()
  }

  // ── MachineServices ─────────────────────────────────────────────────────

  async start(image: Image): Promise<Launch> {
    const running = this.#runs.get(image.name)
    if (running !== undefined) return { ended: running.ended }
    return { ended: (await this.#launch(image, [])).ended }
  }

  runs(name: string): Promise<boolean> {
    return Promise.resolve(this.#runs.has(name))
  }

  enable(image: Image): Promise<void> {
    return this.#enabled.enable(image.name)
  }

  disable(name: string): Promise<void> {
    return this.#enabled.disable(name)
  }

  enabled(name: string): Promise<boolean> {
    return this.#enabled.isEnabled(name)
  }

  // ── What the registry tells us ──────────────────────────────────────────

  /** The machine registered: from now on a failure of its launcher restarts it. */
  machineRegistered(name: string): void {
    const run = this.#runs.get(name)
    if (run === undefined || run.registered) return
    run.registered = true
    void this.#save(run)
  }

  /** The machine is being terminated: its launcher's end is no failure to restart after. */
  machineStopping(name: string): void {
    const run = this.#runs.get(name)
    if (run === undefined || run.stopping) return
    run.stopping = true
    void this.#save(run)
  }

  // ── Start-up and shutdown ───────────────────────────────────────────────

  /**
   * After the daemon (re)started and serves: adopts the launchers an
   * earlier run started, deals with those that ended meanwhile as if it had
   * watched them, then starts every enabled machine that does not run.
   */
  async startup(): Promise<void> {
    for (const record of await this.#records.list()) await this.#adopt(record)
    for (const name of await this.#enabled.list()) {
      if (this.#runs.has(name) || this.#options.isRegistered(name)) continue
      const image = await this.#options.images.find(name).catch(() => undefined)
      if (image === undefined) {
        this.#options.log.warn('Enabled machine has no image, not starting it', { machine: name })
        continue
      }
      await this.#launch(image, []).catch((err: unknown) => this.#options.log.warn('Failed to start enabled machine', { machine: name, error: String(err) }))
    }
  }

  /** The daemon stops: the launchers run on (a restarted daemon adopts them). */
  dispose(): void {
    this.#disposed = true
    clearInterval(this.#logCheck)
    for (const t of this.#timers) clearTimeout(t)
    for (const run of this.#runs.values()) run.watch?.dispose()
  }

  // ── Launchers ───────────────────────────────────────────────────────────

  async #launch(image: Image, starts: number[]): Promise<Run> {
    const { log, processes } = this.#options
    if (this.#runs.size >= (this.#options.maxLaunchers ?? MAX_LAUNCHERS)) throw new LimitsExceededError(`Too many machines running as services (${this.#options.maxLaunchers ?? MAX_LAUNCHERS})`)
    const { kind, argv } = launcherArgv(image)
    await this.#records.clearStatus(image.name)
    const logFd = await this.#logs.open(image.name)
    let child: ChildProcess
    try {
      child = spawn(process.execPath, argv, {
        // A session of its own: the daemon's terminal, process group and death are not the launcher's.
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: launcherEnvironment(this.#options.busAddress, this.#records.statusPath(image.name)),
      })
      await new Promise<void>((resolve, reject) => { child.once('spawn', resolve); child.once('error', reject) })
    } finally {
      closeSync(logFd)
    }
    child.unref()
    const ref = await processes.pin(child.pid!)
    const run = this.#track({ name: image.name, kind, pid: child.pid!, startTime: ref?.startTime ?? 0n, registered: false, stopping: false }, [...starts, Date.now()])
    child.once('exit', (code, signal) => void this.#ended(run, code === null ? { signal: signal ?? 'SIGKILL' } : { code }))
    await this.#save(run)
    log.info('Started machine launcher', { machine: image.name, kind, pid: child.pid, log: this.#logs.path(image.name) })
    return run
  }

  #track(record: LauncherRecord, starts: number[]): Run {
    let resolveEnded!: (message: string) => void
    const ended = new Promise<string>((r) => { resolveEnded = r })
    const run: Run = { ...record, starts, ended, resolveEnded, watch: undefined }
    this.#runs.set(record.name, run)
    return run
  }

  async #adopt(record: LauncherRecord): Promise<void> {
    if (this.#runs.has(record.name)) return
    const { processes, log } = this.#options
    const ref = await processes.pin(record.pid)
    const handle: ProcessHandle | undefined = ref !== undefined && ref.startTime === record.startTime ? await processes.hold(ref) : undefined
    const run = this.#track(record, [])
    if (handle === undefined) {
      // It ended while nobody watched: as if we had seen it end.
      const code = await this.#records.readStatus(record.name)
      await this.#ended(run, code === undefined ? undefined : { code })
      return
    }
    log.info('Adopted machine launcher', { machine: record.name, pid: record.pid })
    run.watch = handle.onExit(() => {
      handle.dispose()
      void this.#records.readStatus(record.name).then((code) => this.#ended(run, code === undefined ? undefined : { code }))
    })
  }

  async #save(run: Run): Promise<void> {
    if (this.#runs.get(run.name) !== run) return
    await this.#records.write(run).catch((err: unknown) => this.#options.log.warn('Failed to save launcher record, ignoring', { machine: run.name, error: String(err) }))
  }

  /** The launcher ended: `status` is undefined when nobody knows how (an adopted one that wrote nothing). */
  async #ended(run: Run, status: { code: number } | { signal: string } | undefined): Promise<void> {
    // A daemon on its way out leaves the record to the next one, which finds the launcher gone and reads its status.
    if (this.#disposed || this.#runs.get(run.name) !== run) return
    this.#runs.delete(run.name)
    run.watch?.dispose()
    await this.#records.remove(run.name)
    const failed = status === undefined || !('code' in status) || status.code !== 0
    const what = launcherName(run.kind)
    const how = status === undefined ? `${what} ended; how is not known` : 'code' in status ? `${what} exited with status ${status.code}` : `${what} was killed by signal ${status.signal}`
    const tail = await this.#logs.tail(run.name)
    run.resolveEnded(tail.length === 0 ? `${how}.` : `${how}; the end of ${this.#logs.path(run.name)}: ${tail.join(' | ')}`)
    const restart = failed && run.registered && !run.stopping
    this.#options.log.info('Machine launcher ended', { machine: run.name, status: how, restart })
    if (restart) this.#scheduleRestart(run)
  }

  #scheduleRestart(run: Run): void {
    const now = Date.now()
    const starts = run.starts.filter((t) => now - t < START_LIMIT_INTERVAL_MS)
    if (starts.length >= START_LIMIT_BURST) {
      this.#options.log.error('Machine launcher failed too often, not restarting it', { machine: run.name, starts: starts.length, withinMs: START_LIMIT_INTERVAL_MS })
      return
    }
    this.#later(RESTART_DELAY_MS, () => this.#restart(run.name, starts, Date.now() + RESTART_WAIT_MS))
  }

  #later(ms: number, work: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      void work()
    }, ms)
    this.#timers.add(timer)
  }

  async #restart(name: string, starts: number[], deadline: number): Promise<void> {
    if (this.#disposed || this.#runs.has(name)) return
    if (this.#options.isRegistered(name)) {
      // The old machine is still being collected (its scope empties within a second of its leader's end).
      if (Date.now() < deadline) this.#later(RESTART_DELAY_MS * 5, () => this.#restart(name, starts, deadline))
      else this.#options.log.warn('A machine of this name is still registered, not restarting its launcher', { machine: name })
      return
    }
    const image = await this.#options.images.find(name).catch(() => undefined)
    if (image === undefined) {
      this.#options.log.warn('Machine image is gone, not restarting its launcher', { machine: name })
      return
    }
    await this.#launch(image, starts).catch((err: unknown) => this.#options.log.warn('Failed to restart machine launcher', { machine: name, error: String(err) }))
  }
}

function launcherName(kind: LaunchKind): string {
  return kind === 'vm' ? 'machined-vmspawn' : 'machined-spawn'
}

/** The daemon's environment for a launcher, minus what was meant for the daemon alone, plus its bus and its exit status file. */
function launcherEnvironment(busAddress: string, statusFile: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: busAddress, [EXIT_STATUS_ENV]: statusFile }
  for (const key of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES']) delete env[key]
  return env
}
