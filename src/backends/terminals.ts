/**
 * Terminals inside machines (core's Terminals port), as systemd-machined
 * makes them: the pty is allocated inside the machine (its /dev/ptmx, so
 * the guest sees /dev/pts/N as its own), and the guest's systemd is asked
 * over the guest's system bus to run a getty (StartUnit
 * container-getty@N.service) or the shell (StartTransientUnit
 * container-shell@N.service with the pty as stdin/stdout/stderr).
 *
 * Where the guest has no system bus, or no systemd on it (busybox,
 * distroless, Alpine), machined gives up; we start the session ourselves
 * instead: machined-enter joins the machine's namespaces and cgroups and
 * runs login(1) or the program on the pty as the user the guest's
 * /etc/passwd names (docs/compat.md). Namespace work happens in that
 * helper program (native/enter/): Node cannot join a mount
 * namespace.
 * @module
 */

import { spawn } from 'node:child_process'
import { closeSync } from 'node:fs'
import type { Socket } from 'node:net'
import { FailedError, NoSuchProcessError } from '../protocol/errors.ts'
import type { Log, MachinePty, ProcessRef, ShellSpec, Terminals } from '../core/ports.ts'
import { BusConnection, DBusError, variant } from '../wire/dbus/bus.ts'
import { ENTER_PROGRAM } from '../native/addon.ts'
import { receiveFds, socketPair } from './native.ts'

const SYSTEMD = { destination: 'org.freedesktop.systemd1', path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager' } as const

/** Where a guest's system bus listens (inside the guest). */
const GUEST_BUS_SOCKET = '/run/dbus/system_bus_socket'

/** sd-bus's default method call timeout: a guest's bus or systemd that does not answer must not hold the call forever. */
const GUEST_CALL_TIMEOUT_MS = 25_000

/** Rejects after GUEST_CALL_TIMEOUT_MS, closing `bus` (which fails whatever else waits on it). */
function withTimeout<T>(work: Promise<T>, bus: BusConnection): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      bus.close()
      reject(new FailedError('Connection timed out'))
    }, GUEST_CALL_TIMEOUT_MS)
  })
  return Promise.race([work, expired]).finally(() => clearTimeout(timer))
}

/** machined-enter's exit statuses (native/enter/enter.h). */
const EXIT_NO_USER = 2

/** systemd's answer when User= names nobody: get_user_creds() fails with ESRCH. */
const NO_SUCH_USER = 'Failed to determine user credentials: No such process'

export interface TerminalsOptions {
  /** D-Bus address of the host's system bus, for the ".host" machine. */
  readonly hostBusAddress: string
  readonly log: Log
  /** The helper program; tests may point elsewhere. */
  readonly helper?: string
  /** How long a helper may take to start a session (GUEST_CALL_TIMEOUT_MS); tests wait less. */
  readonly startTimeoutMs?: number
}

interface HelperRun {
  readonly code: number
  readonly stderr: string
}

function pidArgs(leader: ProcessRef | undefined): string[] {
  return leader === undefined ? [] : ['--pid', String(leader.pid)]
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n')
  return (lines[lines.length - 1] ?? '').replace(/^machined-enter: /, '')
}

function closeQuietly(fd: number): void {
  try { closeSync(fd) } catch { /* already closed */ }
}

/** The N of /dev/pts/N: getty and shell units are named after it, as machined names them. */
function ptyNumber(path: string): string {
  if (!path.startsWith('/dev/pts/')) throw new FailedError(`Path of pseudo TTY has unexpected prefix: ${path}`)
  return path.slice('/dev/pts/'.length)
}

export class MachineTerminals implements Terminals {
  readonly #options: TerminalsOptions
  readonly #helper: string

  constructor(options: TerminalsOptions) {
    this.#options = options
    this.#helper = options.helper ?? ENTER_PROGRAM
  }

  async openPty(leader: ProcessRef | undefined): Promise<MachinePty> {
    const { master, path } = await this.#allocate(leader, false)
    return { master, path }
  }

  async openLogin(leader: ProcessRef | undefined): Promise<MachinePty> {
    const pty = await this.openPty(leader)
    try {
      const bus = await this.#systemdBus(leader)
      if (bus === undefined) {
        await this.#startOurselves(leader, pty.path, ['--login'])
      } else {
        try {
          await this.#callSystemd(bus, 'StartUnit', 'ss', [`container-getty@${ptyNumber(pty.path)}.service`, 'replace'])
        } finally {
          bus.close()
        }
      }
      return pty
    } catch (err) {
      closeQuietly(pty.master)
      throw err
    }
  }

  async openShell(leader: ProcessRef | undefined, spec: ShellSpec): Promise<MachinePty> {
    const bus = await this.#systemdBus(leader)
    if (bus === undefined) {
      const pty = await this.openPty(leader)
      try {
        const env = spec.environment.flatMap((e) => ['--env', e])
        await this.#startOurselves(leader, pty.path, ['--user', spec.user, ...env, '--', spec.path, ...spec.args])
        return pty
      } catch (err) {
        closeQuietly(pty.master)
        throw err
      }
    }
    try {
      const { master, peer, path } = await this.#allocate(leader, true)
      try {
        await this.#startShellUnit(bus, spec, path, peer!)
      } catch (err) {
        closeQuietly(master)
        throw err
      }
      return { master, path }
    } finally {
      bus.close()
    }
  }

  /**
   * machine_start_shell(): the transient unit machined asks for, with the
   * peer as the program's terminal (the bus connection passes the fd and
   * closes our copy once sent).
   */
  async #startShellUnit(bus: BusConnection, spec: ShellSpec, path: string, peer: number): Promise<void> {
    // Until the call is sent, the peer is ours: a bus that went away or passes no fds (a guest's) must not keep it open.
    if (bus.closed || !bus.unixFd) {
      closeQuietly(peer)
      throw new FailedError(bus.closed ? 'Connection reset by peer' : 'The machine\'s bus does not pass file descriptors')
    }
    const n = ptyNumber(path)
    const v = variant
    const properties: [string, unknown][] = [
      ['Description', v('s', `Shell for User ${spec.user}`)],
      ['StandardInputFileDescriptor', v('h', peer)],
      ['StandardOutputFileDescriptor', v('h', peer)],
      ['StandardErrorFileDescriptor', v('h', peer)],
      ['SendSIGHUP', v('b', true)],
      ['IgnoreSIGPIPE', v('b', false)],
      ['KillMode', v('s', 'mixed')],
      ['TTYPath', v('s', path)],
      ['TTYReset', v('b', true)],
      ['UtmpIdentifier', v('s', path.slice('/dev/'.length))],
      ['UtmpMode', v('s', 'user')],
      ['PAMName', v('s', 'login')],
      ['WorkingDirectory', v('s', '-~')],
      ['User', v('s', spec.user)],
    ]
    if (spec.environment.length > 0) properties.push(['Environment', v('as', [...spec.environment])])
    properties.push(['ExecStart', v('a(sasb)', [[spec.path, [...spec.args], true]])])
    await this.#callSystemd(bus, 'StartTransientUnit', 'ssa(sv)a(sa(sv))', [`container-shell@${n}.service`, 'fail', properties, []])
  }

  /** A call to the guest's systemd; its error comes back as ours, with the guest's message. */
  async #callSystemd(bus: BusConnection, member: string, signature: string, body: unknown[]): Promise<void> {
    try {
      await withTimeout(bus.call(SYSTEMD.destination, SYSTEMD.path, SYSTEMD.interface, member, signature, body), bus)
    } catch (err) {
      if (err instanceof DBusError) throw new FailedError(err.message)
      throw err
    }
  }

  /**
   * The machine's system bus with systemd on it, connected from inside the
   * machine's root (sd-bus's x-machine-unix:), so that a guest's symlink
   * cannot point us at another bus. undefined when there is no bus or no
   * systemd on it: then we start the session ourselves.
   */
  async #systemdBus(leader: ProcessRef | undefined): Promise<BusConnection | undefined> {
    const { log } = this.#options
    let bus: BusConnection
    try {
      bus = leader === undefined
        ? await BusConnection.connect(this.#options.hostBusAddress, { watchNameOwners: false, unixFd: true })
        : await BusConnection.adopt(await this.#connectInside(leader, GUEST_BUS_SOCKET), { watchNameOwners: false })
    } catch (err) {
      log.debug('No system bus in the machine, starting the session ourselves', { leader: leader?.pid, error: String(err) })
      return undefined
    }
    try {
      await withTimeout(bus.callDriver('GetNameOwner', 's', [SYSTEMD.destination]), bus)
      return bus
    } catch (err) {
      bus.close()
      if (err instanceof DBusError) {
        log.debug('No systemd on the machine\'s bus, starting the session ourselves', { leader: leader?.pid })
        return undefined
      }
      throw err
    }
  }

  /** A Unix socket connected to `path` as the machine sees it (machined-enter connect). */
  async #connectInside(leader: ProcessRef, path: string): Promise<number> {
    const [ours, theirs] = socketPair()
    try {
      const run = await this.#run(['connect', ...pidArgs(leader), '--', path], theirs)
      if (run.code !== 0) throw new FailedError(`Failed to connect to ${path} in the machine: ${lastLine(run.stderr)}`)
      const { fds } = receiveFds(ours)
      if (fds.length !== 1) {
        for (const fd of fds) closeQuietly(fd)
        throw new FailedError(`Failed to connect to ${path} in the machine: the helper sent no socket`)
      }
      return fds[0]!
    } finally {
      closeQuietly(ours)
      closeQuietly(theirs)
    }
  }

  /** openpt_allocate_in_namespace(): the master (and with `peer` the opened peer) of a pty from the machine's /dev/ptmx. */
  async #allocate(leader: ProcessRef | undefined, peer: boolean): Promise<{ master: number; peer: number | undefined; path: string }> {
    const [ours, theirs] = socketPair()
    try {
      const run = await this.#run(['openpt', ...pidArgs(leader), ...(peer ? ['--peer'] : [])], theirs)
      if (run.code !== 0) throw new FailedError(`Failed to open pseudo terminal: ${lastLine(run.stderr)}`)
      const { data, fds } = receiveFds(ours)
      const path = data.toString('utf8')
      if (fds.length !== (peer ? 2 : 1) || !path.startsWith('/dev/pts/')) {
        for (const fd of fds) closeQuietly(fd)
        throw new FailedError('Failed to open pseudo terminal: the helper sent no pty')
      }
      return { master: fds[0]!, peer: fds[1], path }
    } finally {
      closeQuietly(ours)
      closeQuietly(theirs)
    }
  }

  /** Runs machined-enter to the end, `fd3` as its fd 3. */
  #run(args: string[], fd3: number): Promise<HelperRun> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.#helper, args, { stdio: ['ignore', 'ignore', 'pipe', fd3] })
      // A machine whose files hang (a stuck FUSE mount, say) must not hold the call forever.
      const timer = setTimeout(() => child.kill('SIGKILL'), GUEST_CALL_TIMEOUT_MS)
      child.on('close', () => clearTimeout(timer))
      let stderr = ''
      child.stdio[2]?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
      child.on('error', reject)
      // A helper killed by a signal counts as failed (status 1 and up).
      child.on('close', (code) => resolve({ code: code ?? 1, stderr }))
    })
  }

  /**
   * Starts a session with machined-enter exec and resolves once its
   * program runs; the helper stays as the session's parent and exits with
   * it. It is detached from our event loop: sessions outlive the call.
   */
  #startOurselves(leader: ProcessRef | undefined, tty: string, args: string[]): Promise<void> {
    const { log } = this.#options
    return new Promise((resolve, reject) => {
      const child = spawn(this.#helper, ['exec', ...pidArgs(leader), '--tty', tty, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      let started = false
      // The guest's files may hang the helper before the session starts (a FIFO for /etc/passwd): the call, and its operation, must end.
      let timedOut = false
      const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, this.#options.startTimeoutMs ?? GUEST_CALL_TIMEOUT_MS)
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk
        if (!started && stdout.includes('started\n')) {
          started = true
          clearTimeout(timer)
          child.unref()
          ;(child.stdout as unknown as Socket).unref()
          ;(child.stderr as unknown as Socket).unref()
          resolve()
        }
      })
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
      child.on('error', (err) => { clearTimeout(timer); reject(err) })
      child.on('close', (code) => {
        clearTimeout(timer)
        if (started) {
          log.debug('Session ended', { tty, status: code })
          return
        }
        if (code === EXIT_NO_USER) reject(new NoSuchProcessError(NO_SUCH_USER, { parameter: 'user' }))
        else if (timedOut) reject(new FailedError('Failed to start session: Connection timed out'))
        else reject(new FailedError(`Failed to start session: ${lastLine(stderr)}`))
      })
    })
  }
}
