/**
 * machined-vmspawn: runs a VM in qemu with an SMBIOS identity and
 * registers it with machined as class vm (see HELP in options.ts). The
 * order is vmspawn's — check everything, choose the accelerator, register,
 * start qemu, supervise, unregister — so that bad input fails before
 * anything is registered or started, with one line on stderr.
 * @module
 */

import { randomUuid } from '../linux/random.ts'
import { closeSync, realpathSync } from 'node:fs'
import { createRequire } from 'node:module'
import { chooseAccel } from './accel.ts'
import { attachConsole, type AttachedConsole } from './console.ts'
import { GuestWatch } from './guest-watch.ts'
import { Lifetime } from './lifetime.ts'
import { HELP, parseCommandLine, UsageError, type ConsoleMode, type VmspawnOptions } from './options.ts'
import { NotifyServer } from './notify-server.ts'
import { checkReadableFile, detectDiskFormat, findQemu, PreflightError } from './preflight.ts'
import { buildQemuArgv, type DiskFormat } from './qemu-argv.ts'
import { closed, QEMU_PASSED_FD_FIRST, spawnQemu, terminatingSignal, type QemuExit } from './qemu-process.ts'
import { QmpListener } from './qmp.ts'
import { Registered, RegistrationError } from './registration.ts'
import { RuntimeDir } from './runtime-dir.ts'
import { watchSignals, type LauncherSignal, type SignalWatch } from './signals.ts'
import { openVsockChannel } from './vsock-channel.ts'
import { ServiceNotifier } from '../linux/sd-notify.ts'
import { imageAtPath } from '../linux/image-search.ts'

const PROGRAM = 'machined-vmspawn'

/** Status lines on stderr; CRLF while the terminal is raw (interactive console). */
class Log {
  console: AttachedConsole | undefined
  readonly #quiet: boolean

  constructor(quiet: boolean) {
    this.#quiet = quiet
  }

  #write(message: string): void {
    process.stderr.write(`${PROGRAM}: ${message}${this.console?.raw === true ? '\r\n' : '\n'}`)
  }

  info(message: string): void {
    if (!this.#quiet) this.#write(message)
  }

  /** Said even with --quiet: a fallback or failure the user must know about. */
  warn(message: string): void {
    this.#write(message)
  }
}

function version(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version
}

interface Checked {
  readonly qemu: string
  readonly image: { readonly path: string; readonly format: DiskFormat } | undefined
}

/** Everything that can be checked before registering: one-line errors, nothing left behind. */
function preflight(o: VmspawnOptions): Checked {
  const qemu = findQemu()
  if (o.kernel !== undefined) checkReadableFile('kernel', o.kernel)
  if (o.initrd !== undefined) checkReadableFile('initrd', o.initrd)
  if (o.image !== undefined) checkReadableFile('image', o.image, { allowBlockDevice: true })
  return { qemu, image: o.image === undefined ? undefined : { path: o.image, format: detectDiskFormat(o.image) } }
}

function defaultConsole(): ConsoleMode {
  // vmspawn: interactive when both ends are a terminal, else read-only.
  return process.stdin.isTTY && process.stdout.isTTY ? 'interactive' : 'read-only'
}

export async function main(argv: readonly string[]): Promise<number> {
  let options: VmspawnOptions
  try {
    const parsed = parseCommandLine(argv)
    if (parsed.kind === 'help') { process.stdout.write(HELP); return 0 }
    if (parsed.kind === 'version') { process.stdout.write(`${PROGRAM} ${version()}\n`); return 0 }
    options = parsed.options
  } catch (err) {
    if (err instanceof UsageError) { process.stderr.write(`${PROGRAM}: ${err.message}\n`); return 1 }
    throw err
  }
  const log = new Log(options.quiet)
  try {
    return await run(options, log)
  } catch (err) {
    if (err instanceof UsageError || err instanceof PreflightError || err instanceof RegistrationError) {
      log.warn(err.message)
      return 1
    }
    log.warn(`${(err as Error).message}`)
    return 1
  }
}

async function run(o: VmspawnOptions, log: Log): Promise<number> {
  // Taken before qemu is started, so it never inherits $NOTIFY_SOCKET.
  const manager = ServiceNotifier.fromEnvironment()
  const checked = preflight(o)
  const uuid = o.uuid ?? randomUuid()
  const consoleMode = o.console ?? defaultConsole()
  const accel = await chooseAccel(o.accel, checked.qemu, o.kernel)
  if (accel.fallback !== undefined) log.warn(accel.fallback)
  // Before registering: the guest's CID is registered with the machine.
  const vsock = openVsockChannel(o.vsock, o.vsockCid, o.machine)
  const channel = vsock.kind === 'on' ? vsock.channel : undefined

  // Everything from here on is undone in the finally block, in reverse.
  let vhostFd = channel?.vhostFd
  let notify: NotifyServer | undefined
  let runtime: RuntimeDir | undefined
  let qmp: QmpListener | undefined
  let signals: SignalWatch | undefined
  let registered: Registered | undefined
  let lifetime: Lifetime | undefined
  let qemuPid: number | undefined
  try {
    runtime = RuntimeDir.create()
    const dir = runtime
    const guest = new GuestWatch(uuid.replace(/-/g, ''), {
      onChange: (record) => { try { dir.writeGuestRecord(record) } catch { /* display only */ } },
      log: (m) => log.info(m),
    })
    if (channel !== undefined) {
      let refusedBefore = false
      notify = new NotifyServer(channel.listenFd, { guestCid: channel.cid }, {
        onMessage: (message) => guest.notify(message),
        onRefused: (reason) => {
          if (!refusedBefore) log.info(`Ignoring a vsock notify connection: ${reason} (further ones are not reported).`)
          refusedBefore = true
        },
      })
    }
    qmp = await QmpListener.listen(runtime.qmpSocket)
    const qmpReady = qmp.connection
    // Signals first: once registered, machinectl may send them at any moment.
    const early: LauncherSignal[] = []
    signals = watchSignals((s) => {
      if (s === 'poweroff' || s === 'terminate') manager.notify({ STOPPING: '1' })
      if (lifetime === undefined) early.push(s); else lifetime.onSignal(s)
    })

    if (o.register) {
      const image = o.image === undefined ? undefined : await imageAtPath(realpathSync(o.image), true).catch(() => undefined)
      registered = await Registered.register({ name: o.machine, uuid, vsockCid: channel?.cid, image })
    }

    // Told to stop while registering: there is no VM to power off yet, so none is started.
    if (early.includes('poweroff') || early.includes('terminate')) {
      log.info('Asked to stop before the VM started; not starting it.')
      return 0
    }

    const argv = buildQemuArgv({
      binary: checked.qemu, accel: accel.accel, uuid, cpus: o.cpus, ramMiB: o.ramMiB,
      kernel: o.kernel, initrd: o.initrd, append: o.append, image: checked.image,
      vsock: channel === undefined ? undefined : { cid: channel.cid, vhostFd: QEMU_PASSED_FD_FIRST, notifySocket: channel.notifySocket },
      qmpSocket: runtime.qmpSocket,
    })
    // Said here, not when found: bad input stays one line on stderr.
    if (vsock.kind === 'off' && vsock.reason !== undefined) {
      log.info(`No vsock notify channel (${vsock.reason}): the guest is followed on its console only.`)
    }
    const vsockNote = channel === undefined ? '' : `, vsock CID ${channel.cid}, notify port ${channel.port}`
    log.info(`Spawning VM ${o.machine} (UUID ${uuid}${vsockNote}) with ${accel.accel === 'kvm' ? 'KVM' : 'TCG'}.`)
    const qemu = spawnQemu(argv, vhostFd === undefined ? [] : [vhostFd])
    // qemu has its own copy of the vhost fd now (spawn() returns after the exec).
    if (vhostFd !== undefined) { closeSync(vhostFd); vhostFd = undefined }
    qemuPid = qemu.pid
    // Run from a unit (machined-vmspawn@.service, Type=notify): READY=1 once qemu runs.
    manager.notify({ READY: '1', STATUS: 'Virtual machine running.' })
    manager.startWatchdog()
    const done = closed(qemu)
    const spawnFailed = new Promise<QemuExit>((resolve) => qemu.once('error', (err) => {
      log.warn(`Failed to start qemu: ${err.message}`)
      resolve({ code: 1, signal: null })
    }))
    let qemuStderr = ''
    qemu.stderr?.on('data', (c: Buffer) => {
      process.stderr.write(c)
      qemuStderr = (qemuStderr + c.toString()).slice(-4096)
    })

    log.console = attachConsole(consoleMode, qemu, { onOutput: (c) => guest.console(c), onEscape: () => lifetime?.onEscape() })
    if (consoleMode === 'interactive' && log.console.raw) log.info('Press Ctrl-] three times within 1s to kill the VM.')

    lifetime = new Lifetime({
      powerdown: async () => { await (await qmpReady).execute('system_powerdown') },
      reset: async () => { await (await qmpReady).execute('system_reset') },
      kill: (signal) => { try { qemu.kill(signal) } catch { /* gone */ } },
      log: (m) => log.info(m),
      setTimer: (ms, fn) => { const t = setTimeout(fn, ms); return () => clearTimeout(t) },
    }, o.shutdownTimeoutMs)
    for (const s of early.splice(0)) lifetime.onSignal(s)

    const raw = await Promise.race([done, spawnFailed])
    const exit = { ...raw, terminatedBy: terminatingSignal(qemuStderr) }
    const status = lifetime.onQemuExit(exit)
    qemuPid = undefined
    if (exit.signal !== null) log.warn(`qemu died of ${exit.signal}.`)
    else if (exit.code === 0 && exit.terminatedBy !== undefined) log.warn(`qemu was stopped by signal ${exit.terminatedBy}.`)
    else if (status !== 0) log.warn(`qemu exited with status ${status}.`)
    else if (guest.exitStatus !== undefined && guest.exitStatus !== 0) {
      // systemd-vmspawn exits with the EXIT_STATUS= its guest sent.
      log.warn(`The guest powered off with exit status ${guest.exitStatus}.`)
      return guest.exitStatus
    } else log.info('The guest powered off.')
    return status
  } finally {
    manager.dispose()
    signals?.dispose()
    log.console?.detach()
    log.console = undefined
    // Should we get here with qemu still up (an exception), it must not outlive us.
    if (qemuPid !== undefined) { try { process.kill(qemuPid, 'SIGKILL') } catch { /* gone */ } }
    if (registered !== undefined) {
      const failure = await registered.unregister()
      if (failure !== undefined) log.warn(`Failed to unregister machine ${o.machine}, ignoring: ${failure}`)
    }
    qmp?.close()
    if (notify !== undefined) notify.close()
    else if (channel !== undefined) closeSync(channel.listenFd)
    if (vhostFd !== undefined) closeSync(vhostFd)
    runtime?.remove()
  }
}
