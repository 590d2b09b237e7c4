/**
 * Getting onto the system bus: $DBUS_SYSTEM_BUS_ADDRESS, else the
 * standard socket; when nothing listens there, start our own
 * `dbus-daemon --system` (the embedded default) and say where. The bus
 * policy for org.freedesktop.machine1 is installed when the packaged one
 * is missing.
 * @module
 */

import { spawn, type ChildProcess } from 'node:child_process'
import { access, copyFile, mkdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { Log } from '../core/ports.ts'
import { BusConnection } from '../wire/dbus/bus.ts'

export const DEFAULT_SYSTEM_BUS_ADDRESS = 'unix:path=/run/dbus/system_bus_socket'
export const POLICY_NAME = 'org.freedesktop.machine1.conf'
/** Both names the daemon owns: machine1, and import1 for transfers. */
export const POLICY_NAMES = [POLICY_NAME, 'org.freedesktop.import1.conf']
export const POLICY_DIRS = ['/usr/share/dbus-1/system.d', '/etc/dbus-1/system.d']
/** Our own policy file for one of POLICY_NAMES, shipped in data/. */
export function ourPolicy(file: string): string {
  return fileURLToPath(new URL(`../../data/${file}`, import.meta.url))
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false)
}

/** Installs our bus policy for each name into /etc when no policy for it exists. Returns whether it did. */
export async function ensureBusPolicy(log: Log): Promise<boolean> {
  let installed = false
  for (const file of POLICY_NAMES) {
    if ((await Promise.all(POLICY_DIRS.map((dir) => exists(`${dir}/${file}`)))).includes(true)) continue
    await mkdir('/etc/dbus-1/system.d', { recursive: true })
    await copyFile(ourPolicy(file), `/etc/dbus-1/system.d/${file}`)
    log.info(`Installed the D-Bus policy for ${file.replace(/\.conf$/, '')}`, { path: `/etc/dbus-1/system.d/${file}` })
    installed = true
  }
  return installed
}

/**
 * Whether an installed bus policy (systemd's own org.freedesktop.machine1.conf)
 * keeps users other than root from sending the Create… and Register… methods at all: it
 * denies everything to the name and then allows a list of methods that
 * leaves those out. dbus-daemon then answers AccessDenied itself, before
 * the call reaches us.
 */
export async function busPolicyRestrictsUsers(): Promise<boolean> {
  for (const dir of POLICY_DIRS) {
    const text = await readFile(`${dir}/${POLICY_NAME}`, 'utf8').catch(() => undefined)
    if (text !== undefined && /<deny\s+send_destination="org\.freedesktop\.machine1"\s*\/>/.test(text)) return true
  }
  return false
}

export interface SystemBus {
  readonly bus: BusConnection
  readonly address: string
  /** The dbus-daemon we started, if we had to. */
  readonly embedded: ChildProcess | undefined
  close(): void
}

/**
 * The daemon's replies and signals of one turn of the event loop go out in
 * one write: with many callers at once (Varlink calls arrive one socket
 * each), each MachineNew would otherwise be a sendmsg and a wake-up of
 * dbus-daemon of its own (bench/README.md).
 */
const BUS_FLUSH = 'turn'

async function waitForBus(address: string, child: ChildProcess, timeoutMs: number, log: Log): Promise<BusConnection> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dbus-daemon exited with status ${child.exitCode}`)
    try {
      return await BusConnection.connect(address, { log, flush: BUS_FLUSH })
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}

export async function connectSystemBus(options: { address: string | undefined; embedded: boolean; log: Log }): Promise<SystemBus> {
  const { log } = options
  const address = options.address ?? process.env.DBUS_SYSTEM_BUS_ADDRESS ?? DEFAULT_SYSTEM_BUS_ADDRESS
  const installed = await ensureBusPolicy(log)
  try {
    const bus = await BusConnection.connect(address, { log, flush: BUS_FLUSH })
    if (installed) {
      // dbus-daemon picks up new policy files by itself too; asking makes it immediate.
      await bus.callDriver('ReloadConfig', '', []).catch(() => log.warn('Could not ask the bus to reload its configuration, ignoring'))
    }
    return { bus, address, embedded: undefined, close: () => bus.close() }
  } catch (err) {
    if (!options.embedded || address !== DEFAULT_SYSTEM_BUS_ADDRESS) {
      throw new Error(`Failed to connect to the system bus at ${address}: ${(err as Error).message}`)
    }
  }
  await mkdir('/run/dbus', { recursive: true })
  const child = spawn('dbus-daemon', ['--system', '--nofork', '--nopidfile'], { stdio: ['ignore', 'ignore', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', (e) => reject(new Error(`No system bus is running and dbus-daemon could not be started: ${e.message}`)))
  })
  log.info('No system bus was running: started our own dbus-daemon --system', { address, pid: child.pid })
  let bus: BusConnection
  try {
    bus = await waitForBus(address, child, 10_000, log)
  } catch (err) {
    child.kill('SIGTERM')
    throw new Error(`The dbus-daemon we started did not answer at ${address}: ${(err as Error).message}`)
  }
  return {
    bus, address, embedded: child,
    close: () => {
      bus.close()
      child.kill('SIGTERM')
    },
  }
}
