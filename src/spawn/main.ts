/**
 * machined-spawn: run a command or boot an OS tree in a container that
 * implements the Container Interface, registered with machined. The entry
 * point only: checks the input (every mistake is one line on stderr and
 * leaves nothing behind), then runs the container until it ends, again
 * after each reboot (nspawn's run() loop), and exits with the payload's
 * status. See README.md and docs/container-interface.md.
 * @module
 */

import { readFileSync } from 'node:fs'
import type { MachinedClient } from '../client/index.ts'
import { resolve } from 'node:path'
import type { ImageLock } from '../native/image-lock.ts'
import { Container, RUNTIME_DIR, stagingDirs } from './container.ts'
import { lockRoot, makeScratch, populateFromTemplate, removeScratch, resolveRoot, withTree, type ContainerRoot } from './image-root.ts'
import { containerEnvironment, DEFAULT_PATH } from './environment.ts'
import type { ExitStatus } from './helper.ts'
import { hostDeviceNodes, hostOsReleasePath, readHostOsRelease } from './host.ts'
import { chooseContainerId, parseMachineIdFile } from './machine-id.ts'
import { HELP, parseCommandLine, resolveConsoleMode, UsageError, type SpawnOptions } from './options.ts'
import { containerHostEnvironment, parseOsRelease } from './os-release.ts'
import { reachMachined, SIGKILL, SIGRTMIN } from './register.ts'
import { syncTimezone } from './timezone.ts'
import { randomUuid } from '../linux/random.ts'
import { ServiceNotifier } from '../linux/sd-notify.ts'
import { checkCommand, defaultShell, findInit, readMachineId } from './tree.ts'

const SIGHUP = 1
const SIGINT = 2
const SIGNAL_NAMES: Readonly<Record<number, string>> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' }
/**
 * How often a clean-shutdown request is repeated. Before the guest said
 * READY=1 it may not have installed its signal handlers yet, and PID 1 of a
 * PID namespace drops signals it has no handler for (A1.6 item 48; systemd
 * 252 sends no X_SYSTEMD_SIGNALS_LEVEL to tell us), so early on we repeat
 * it often.
 */
const RESEND_EARLY_MS = 250
const RESEND_MS = 2000

/** What the guest's PID 1 told us on /run/host/notify (A1.7 item 52). */
export class GuestState {
  ready = false
  shutdown: string | undefined
  status: string | undefined

  update(fields: ReadonlyMap<string, string>): void {
    if (fields.get('READY') === '1') this.ready = true
    const shutdown = fields.get('X_SYSTEMD_SHUTDOWN')
    if (shutdown !== undefined) this.shutdown = shutdown
    const status = fields.get('STATUS')
    if (status !== undefined) this.status = status
  }
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

function say(options: SpawnOptions | undefined, message: string): void {
  if (options?.quiet !== true) process.stderr.write(`${message}\n`)
}

/**
 * nspawn's wait_for_container(): what an ended container means, and our
 * exit code. `shutdown` is what the guest said on the notify socket before
 * it went (X_SYSTEMD_SHUTDOWN=, newer systemd): preferred over guessing
 * from the signal (A1.6 item 49).
 */
export function interpretExit(name: string, status: ExitStatus, shutdown?: string): { code: number; message: string; reboot: boolean } {
  if (status.kind === 'killed' && (status.signal === SIGINT || status.signal === SIGHUP) && shutdown !== undefined) {
    const reboot = shutdown === 'reboot' || shutdown === 'kexec'
    return { code: 0, message: reboot ? `Container ${name} is being rebooted.` : `Container ${name} has been shut down.`, reboot }
  }
  if (status.kind === 'exited') {
    return status.code === 0
      ? { code: 0, message: `Container ${name} exited successfully.`, reboot: false }
      : { code: status.code, message: `Container ${name} failed with error code ${status.code}.`, reboot: false }
  }
  if (status.kind === 'killed') {
    // reboot(2) in a PID namespace kills its init: SIGINT for halt/poweroff, SIGHUP for restart.
    if (status.signal === SIGINT) return { code: 0, message: `Container ${name} has been shut down.`, reboot: false }
    if (status.signal === SIGHUP) return { code: 0, message: `Container ${name} is being rebooted.`, reboot: true }
    return { code: 1, message: `Container ${name} terminated by signal ${SIGNAL_NAMES[status.signal] ?? status.signal}.`, reboot: false }
  }
  return { code: 1, message: `Lost track of container ${name}.`, reboot: false }
}

/** PID 1's $PATH: ours unless --setenv=PATH= says otherwise. */
function pathOf(setenv: readonly string[]): string {
  const own = setenv.filter((e) => e.startsWith('PATH=')).pop()
  return own === undefined ? DEFAULT_PATH : own.slice(5)
}

/** Everything checked and read before a container starts. */
export interface Prepared {
  readonly root: ContainerRoot
  readonly id: string
  readonly argv: string[]
  readonly environment: string[]
  readonly hostOsRelease: string
  readonly devices: ReturnType<typeof hostDeviceNodes>
}

export async function prepare(options: SpawnOptions, root: ContainerRoot, consolePty: boolean): Promise<Prepared> {
  const { argv, machineId } = await withTree(root, `${RUNTIME_DIR}/probe`, (tree) => {
    const argv = options.boot ? [findInit(tree, root.path), ...options.args] : options.args.length > 0 ? [...options.args] : defaultShell(tree)
    if (!options.boot) checkCommand(tree, argv[0]!, pathOf(options.setenv))
    return { argv, machineId: readMachineId(tree) }
  })
  const { id } = chooseContainerId(parseMachineIdFile(machineId), options.uuid, randomUuid)
  const hostOsRelease = hostOsReleasePath()
  const environment = containerEnvironment({
    id, boot: options.boot, pty: consolePty, callerEnv: process.env,
    containerHost: containerHostEnvironment(parseOsRelease(readHostOsRelease(hostOsRelease))),
    setenv: options.setenv,
  })
  return { root, id, argv, environment, hostOsRelease, devices: hostDeviceNodes() }
}

/** Runs machined-spawn; resolves to the exit code. Only bin/ calls process.exit. */
export async function main(argv: string[]): Promise<number> {
  let options: SpawnOptions
  try {
    const parsed = parseCommandLine(argv, process.env)
    if (parsed.kind === 'help') { process.stdout.write(HELP); return 0 }
    if (parsed.kind === 'version') { process.stdout.write(`machined-spawn ${version()}\n`); return 0 }
    options = parsed.options
  } catch (err) {
    if (err instanceof UsageError) { process.stderr.write(`machined-spawn: ${err.message}\n`); return 1 }
    throw err
  }
  const consoleMode = resolveConsoleMode(options.console, options.boot, process.stdin.isTTY === true && process.stdout.isTTY === true)
  // A reader that went away (EPIPE) must not take the container down with us.
  process.stdout.on('error', () => undefined)
  if (process.getuid?.() !== 0) { process.stderr.write('machined-spawn: Need to be root.\n'); return 1 }

  let machined: MachinedClient | undefined
  let lock: ImageLock | undefined
  let scratch: string | undefined
  // Reaching machined (Node's socket code, the bus's handshake, two calls: about 5-10 ms on a loaded host, most of
  // it waiting for the bus and machined) starts first and overlaps finding the root and the look into it. Its
  // answer is awaited only after them, so a bad root or tree is still the error that is reported.
  const reaching = options.register ? reachMachined(options.machine) : undefined
  void reaching?.catch(() => undefined) // awaited below; a failure meanwhile is no unhandled rejection
  try {
    let prepared: Prepared
    let root: ContainerRoot
    try {
      if (options.template !== undefined && options.directory !== undefined) {
        await populateFromTemplate(resolve(options.directory), options.template, (m) => say(options, m))
      }
      root = await resolveRoot(options)
      // nspawn's lock: for a tree once the input is known good (bad input leaves nothing behind, not even the lock
      // directory), before anything changes it; a raw image before it is mounted for a look, as nobody may be writing it.
      if (root.setup.kind === 'raw') lock = await lockRoot(root)
      prepared = await prepare(options, root, consoleMode !== 'pipe')
    } catch (err) {
      void reaching?.then((client) => { client.close() }, () => undefined)
      throw err
    }
    if (reaching !== undefined) machined = await reaching
    lock ??= await lockRoot(root)
    // Only now that every check passed may the tree change (nspawn's --timezone=auto); never an image's, or a tree only read.
    if (root.setup.kind === 'directory' && !root.readOnly && !root.ephemeral) syncTimezone(root.setup.path)
    if (root.ephemeral) scratch = makeScratch(options.machine)
    if (consoleMode === 'pipe' && options.boot) say(options, 'Booting in pipe mode: the container gets no /dev/console.')
    return await run(options, prepared, consoleMode, machined, scratch)
  } catch (err) {
    process.stderr.write(`machined-spawn: ${(err as Error).message.split('\n')[0]}\n`)
    return 1
  } finally {
    machined?.close()
    if (scratch !== undefined) removeScratch(scratch)
    await lock?.release()
  }
}

async function run(options: SpawnOptions, prepared: Prepared, consoleMode: ReturnType<typeof resolveConsoleMode>, machined: MachinedClient | undefined, scratch: string | undefined): Promise<number> {
  const name = options.machine
  // Run from a unit (machined-spawn@.service, Type=notify): READY=1 once the container runs, as nspawn sends it.
  const manager = ServiceNotifier.fromEnvironment()
  let current: Container | undefined
  let guest = new GuestState()
  let stopping = false
  let resend: NodeJS.Timeout | undefined
  // A clean shutdown for an init (SIGRTMIN+3 = halt, which ends a container); a command only understands SIGKILL.
  const stopSignal = options.boot ? SIGRTMIN + 3 : SIGKILL
  const repeatStop = (): void => {
    current?.signal(stopSignal)
    resend = setTimeout(repeatStop, guest.ready ? RESEND_MS : RESEND_EARLY_MS)
  }
  const requestStop = (): void => {
    if (stopping) { current?.signal(SIGKILL); return } // asked twice: no more waiting
    stopping = true
    manager.notify({ STOPPING: '1' })
    repeatStop()
  }
  const handlers = (['SIGTERM', 'SIGINT', 'SIGHUP'] as const).map((s) => [s, requestStop] as const)
  for (const [s, h] of handlers) process.on(s, h)

  const { root } = prepared
  const staging = stagingDirs(name)
  const rootInput = { setup: root.setup, readOnly: root.readOnly, scratch, staging }
  const rootDirectory = root.setup.kind === 'directory' && scratch === undefined ? root.setup.path : staging.root
  say(options, `Spawning container ${name} on ${root.path}.`)
  if (consoleMode === 'interactive') say(options, 'Press Ctrl-] three times within 1s to kill container.')
  try {
    for (;;) {
      guest = new GuestState()
      current = await Container.start({
        options, root: rootInput, rootDirectory, image: root.image, consoleMode, id: prepared.id, argv: prepared.argv, environment: prepared.environment,
        hostOsRelease: prepared.hostOsRelease, devices: prepared.devices, machined,
        onEscape: () => { stopping = true; current?.signal(SIGKILL) },
        onNotify: (fields) => guest.update(fields),
      })
      if (stopping) current.signal(stopSignal) // the request came while it was starting
      else {
        manager.notify({ READY: '1', STATUS: 'Container running.' })
        manager.startWatchdog()
      }
      const result = interpretExit(name, await current.finish(), guest.shutdown)
      current = undefined
      say(options, result.message)
      if (!result.reboot || stopping) return result.reboot ? 0 : result.code
    }
  } finally {
    if (resend !== undefined) clearTimeout(resend)
    manager.dispose()
    for (const [s, h] of handlers) process.off(s, h)
  }
}
