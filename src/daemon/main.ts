/**
 * machined: the daemon's entry point (systemd's machined.c). Parse the
 * command line, connect the bus, wire the ports into one Manager, serve
 * org.freedesktop.machine1, reload the registry, and run until SIGTERM.
 * @module
 */

import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { Authorizer } from '../core/authorization.ts'
import { idToString } from '../core/machine.ts'
import { DEFAULT_LIMITS, Manager } from '../core/manager.ts'
import { loadMachines } from '../core/startup.ts'
import { DEFAULT_VARLINK_LIMITS } from '../transports/varlink/server.ts'
import type { Log, Units } from '../core/ports.ts'
import { CgroupUnits } from '../backends/cgroup-units.ts'
import { SystemClock } from '../backends/clock.ts'
import { startHeapTrim } from '../backends/heap-trim.ts'
import { readHostInfo } from '../backends/host-info.ts'
import { ProcfsInspector } from '../backends/inspector.ts'
import { HelperMachineFiles } from '../backends/machine-files.ts'
import { LocalImagePool } from '../backends/image-pool.ts'
import { MachineTerminals } from '../backends/terminals.ts'
import { ProcfsProcesses } from '../backends/procfs.ts'
import { pidfdsAvailable, pidfsAvailable } from '../backends/pidfd.ts'
import { StateDir } from '../backends/state-dir.ts'
import { SystemdUnits, systemdIsInit } from '../backends/systemd-units.ts'
import { detectCgroupLayout } from '../linux/cgroup-layout.ts'
import { variant } from '../wire/dbus/bus.ts'
import { DbusServer } from '../transports/dbus/server.ts'
import { MACHINE_SOCKET_PATH } from '../protocol/varlink/io.systemd.Machine.ts'
import { FLEET_ARGS, FLEET_HELP, fleetOptionsFrom, startFleet, type FleetOptions } from './fleet.ts'
import { MACHINE_IMAGE_SOCKET_PATH } from '../protocol/varlink/io.systemd.MachineImage.ts'
import { keepYoungGenerationSmall } from './heap.ts'
import { LOG_LEVELS, StderrLog, type LogLevel } from './log.ts'
import { busPolicyRestrictsUsers, connectSystemBus, type SystemBus } from './system-bus.ts'
import { IMPORT_SOCKET_PATH, maxTransfersFrom, startTransfers, TRANSFER_ARGS, TRANSFER_HELP } from './transfers.ts'
import { startVarlink } from './varlink.ts'
import { wireMachineServices } from './machine-services.ts'
import { nameTakenError, refuseIfNameTaken } from './name-owner.ts'
import { ServiceManagerLink } from './service-manager.ts'
import { runServiceCommand, SERVICE_COMMANDS } from './install-service.ts'

/** dbus-daemon's own max_replies_per_connection for the system bus; sd-bus has no such cap. */
const DEFAULT_MAX_CALLS_PER_SENDER = 128

export const HELP = `machined [OPTIONS...]
machined install-service|uninstall-service [--help]

A machine registry and manager speaking systemd-machined's wire protocols
(org.freedesktop.machine1 on the system bus).

Options:
  -h --help                     Show this help
     --version                  Show the version
     --bus-address=ADDRESS      D-Bus address of the system bus
                                (default: $DBUS_SYSTEM_BUS_ADDRESS, else
                                unix:path=/run/dbus/system_bus_socket)
     --no-embedded-bus          Fail instead of starting our own dbus-daemon
                                when no system bus is running
     --state-dir=DIR            Machine state files (default /run/systemd/machines)
     --runtime-dir=DIR          Our own runtime data (default /run/machined-ts)
     --units=auto|cgroup|systemd
                                Who manages scopes: our own cgroup tree, or
                                systemd's StartTransientUnit (auto: systemd
                                when it is PID 1 and on the bus)
     --allow-user-registration  Let unprivileged users register machines whose
                                leader they own, and act on those machines
     --max-machines=N           Limit on registered machines (default 65536)
     --max-machines-per-uid=N   Limit on machines one user other than root may
                                have registered (default 1024)
     --max-calls-per-sender=N   Limit on D-Bus calls one client may have in
                                flight (default 128)
     --max-operations=N         Limit on long-running operations (child
                                processes looking into machines) under way at
                                once (default 64)
     --max-varlink-connections=N
                                Limit on Varlink connections (default 4096)
     --max-varlink-connections-per-uid=N
                                Limit on Varlink connections of one user
                                (default 1024)
     --varlink-socket=PATH      Serve io.systemd.Machine and io.systemd.MachineImage
                                on this socket (default
                                /run/systemd/machine/io.systemd.Machine, and then
                                also .../io.systemd.MachineImage; empty: no Varlink)
     --measure-image-usage=yes|no
                                Measure the disk usage of directory images
                                (du, in the background; default yes). no:
                                report none, as systemd-machined does
${TRANSFER_HELP}     --log-level=LEVEL          debug, info, warn or error (default info)
${FLEET_HELP}`

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

export interface DaemonOptions {
  readonly busAddress: string | undefined
  readonly embeddedBus: boolean
  readonly stateDir: string
  readonly runtimeDir: string
  readonly units: 'auto' | 'cgroup' | 'systemd'
  readonly allowUserRegistration: boolean
  readonly maxMachines: number
  readonly maxMachinesPerUid: number
  readonly maxCallsPerSender: number
  readonly maxOperations: number
  readonly maxVarlinkConnections: number
  readonly maxVarlinkConnectionsPerUid: number
  /** Transfers (org.freedesktop.import1) under way at once. */
  readonly maxTransfers: number
  readonly logLevel: LogLevel
  readonly measureImageUsage: boolean
  /** undefined: no Varlink server. */
  readonly varlinkSocket: string | undefined
  /** undefined: not part of a fleet. */
  readonly fleet?: FleetOptions | undefined
}

type Parsed = { help: true } | { version: true } | { options: DaemonOptions }

export function parseDaemonArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Parsed {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
      'bus-address': { type: 'string' },
      'no-embedded-bus': { type: 'boolean' },
      'state-dir': { type: 'string' },
      'runtime-dir': { type: 'string' },
      units: { type: 'string' },
      'allow-user-registration': { type: 'boolean' },
      'max-machines': { type: 'string' },
      'max-machines-per-uid': { type: 'string' },
      'max-calls-per-sender': { type: 'string' },
      'max-operations': { type: 'string' },
      'max-varlink-connections': { type: 'string' },
      'max-varlink-connections-per-uid': { type: 'string' },
      'log-level': { type: 'string' },
      'measure-image-usage': { type: 'string' },
      'varlink-socket': { type: 'string' },
      ...TRANSFER_ARGS,
      ...FLEET_ARGS,
    },
  })
  if (values.help === true) return { help: true }
  if (values.version === true) return { version: true }
  if (positionals.length > 0) throw new Error(`Unexpected argument: ${positionals[0]}`)
  const units = values.units ?? 'auto'
  if (units !== 'auto' && units !== 'cgroup' && units !== 'systemd') throw new Error(`Invalid --units=${units}`)
  const logLevel = values['log-level'] ?? 'info'
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new Error(`Invalid --log-level=${logLevel}`)
  const measure = values['measure-image-usage'] ?? 'yes'
  if (measure !== 'yes' && measure !== 'no') throw new Error(`Invalid --measure-image-usage=${measure}`)
  type LimitOption = 'max-machines' | 'max-machines-per-uid' | 'max-calls-per-sender' | 'max-operations' | 'max-varlink-connections' | 'max-varlink-connections-per-uid'
  const limit = (option: LimitOption, fallback: number): number => {
    const text = values[option]
    const n = text === undefined ? fallback : /^\d+$/.test(text) ? Number(text) : NaN
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`Invalid --${option}=${text}`)
    return n
  }
  const maxMachines = limit('max-machines', DEFAULT_LIMITS.maxMachines)
  const maxMachinesPerUid = limit('max-machines-per-uid', DEFAULT_LIMITS.maxMachinesPerUid)
  const maxCallsPerSender = limit('max-calls-per-sender', DEFAULT_MAX_CALLS_PER_SENDER)
  const maxOperations = limit('max-operations', DEFAULT_LIMITS.maxOperations)
  const maxVarlinkConnections = limit('max-varlink-connections', DEFAULT_VARLINK_LIMITS.maxConnections)
  const maxVarlinkConnectionsPerUid = limit('max-varlink-connections-per-uid', DEFAULT_VARLINK_LIMITS.maxConnectionsPerUid)
  return {
    options: {
      busAddress: values['bus-address'],
      embeddedBus: values['no-embedded-bus'] !== true,
      stateDir: values['state-dir'] ?? '/run/systemd/machines',
      runtimeDir: values['runtime-dir'] ?? '/run/machined-ts',
      units,
      allowUserRegistration: values['allow-user-registration'] === true,
      maxMachines,
      maxMachinesPerUid,
      maxCallsPerSender,
      maxOperations,
      maxVarlinkConnections,
      maxVarlinkConnectionsPerUid,
      maxTransfers: maxTransfersFrom(values),
      logLevel: logLevel as LogLevel,
      measureImageUsage: measure === 'yes',
      varlinkSocket: values['varlink-socket'] === '' ? undefined : values['varlink-socket'] ?? MACHINE_SOCKET_PATH,
      fleet: fleetOptionsFrom(values, env),
    },
  }
}

export interface RunningDaemon {
  readonly manager: Manager
  readonly systemBus: SystemBus
  stop(): void
}

async function chooseUnits(options: DaemonOptions, systemBus: SystemBus, log: Log): Promise<Units> {
  const wantSystemd = options.units === 'systemd' || (options.units === 'auto' && (await systemdIsInit(systemBus.bus)))
  if (wantSystemd) {
    log.info('Scopes are managed by systemd (StartTransientUnit)')
    return new SystemdUnits({ bus: systemBus.bus, variant, log })
  }
  const layout = detectCgroupLayout()
  if (layout === undefined) throw new Error('No cgroup hierarchy is mounted')
  log.info('Scopes are managed by machined-ts in the cgroup tree', { layout: layout.kind, unified: layout.unified, systemd: layout.systemdV1 })
  return new CgroupUnits({ layout, runtimeDir: `${options.runtimeDir}/scopes`, log })
}

/** `varlinkFd`: a listening socket passed by socket activation, served instead of binding options.varlinkSocket. */
export async function startDaemon(options: DaemonOptions, log: Log, passed: { varlinkFd?: number | undefined } = {}): Promise<RunningDaemon> {
  // Connect to the bus
  const systemBus = await connectSystemBus({ address: options.busAddress, embedded: options.embeddedBus, log })
  try {
    // Somebody serves already (systemd-machined, another of us): say who, before touching its state or its Varlink socket.
    await refuseIfNameTaken(systemBus.bus)
    const processes = new ProcfsProcesses()
    const host = await readHostInfo({ processes })
    const units = await chooseUnits(options, systemBus, log)
    const images = new LocalImagePool({ mountDir: `${options.runtimeDir}/image-mounts`, measureUsage: options.measureImageUsage })
    const authorizer = new Authorizer({ allowUserRegistration: options.allowUserRegistration })
    const transfers = startTransfers({ images, authorizer, log, max: options.maxTransfers })
    const manager = new Manager({
      host, processes, units, log,
      state: new StateDir(options.stateDir),
      inspector: new ProcfsInspector({ processes }),
      files: new HelperMachineFiles({ processes, log }),
      terminals: new MachineTerminals({ hostBusAddress: systemBus.address, log }),
      images,
      clock: new SystemClock(),
      authorizer,
    }, { maxMachines: options.maxMachines, maxMachinesPerUid: options.maxMachinesPerUid, maxOperations: options.maxOperations })
    // Serve the objects before the name is ours, so the first caller finds them.
    const server = new DbusServer({
      bus: systemBus.bus, manager, log, machineId: idToString(host.machineId),
      allowUserRegistration: options.allowUserRegistration, maxPendingPerSender: options.maxCallsPerSender,
    })
    // Leaders are held by pidfd where the kernel has them (Linux 5.3+), and named by pidfs inode numbers on 6.9+.
    log.info('Leaders are tracked', { pidfd: pidfdsAvailable(), pidfs: pidfsAvailable() })
    if (options.allowUserRegistration && (await busPolicyRestrictsUsers())) {
      log.warn('The installed D-Bus policy for org.freedesktop.machine1 lets only root call Create*/Register*: other users can register over Varlink only')
    }
    // Machines from images as services: wired before the registry loads, so the supervisor hears of every machine.
    const machineServices = wireMachineServices({ manager, units, systemBus, processes, runtimeDir: options.runtimeDir, log })
    // Deserialize state; drop machines whose leader is gone.
    await loadMachines(manager)
    // Set up Varlink once the registry is loaded, so the first List sees every machine.
    const varlink = options.varlinkSocket === undefined ? undefined : await startVarlink({
      path: options.varlinkSocket, fd: passed.varlinkFd, manager, services: machineServices.services, log, version: version(),
      imagePath: options.varlinkSocket === MACHINE_SOCKET_PATH ? MACHINE_IMAGE_SOCKET_PATH : undefined,
      limits: { maxConnections: options.maxVarlinkConnections, maxConnectionsPerUid: options.maxVarlinkConnectionsPerUid },
    })
    if (varlink !== undefined) log.info('Serving io.systemd.Machine', { socket: options.varlinkSocket })
    await transfers.serveVarlink(options.varlinkSocket === MACHINE_SOCKET_PATH ? IMPORT_SOCKET_PATH : undefined,
      { maxConnections: options.maxVarlinkConnections, maxConnectionsPerUid: options.maxVarlinkConnectionsPerUid }, version())
    await server.requestName().catch(async (err: unknown) => { throw await nameTakenError(systemBus.bus, err) })
    await transfers.serveDbus({ address: systemBus.address, machineId: idToString(host.machineId), maxPendingPerSender: options.maxCallsPerSender })
    const heapTrim = startHeapTrim(log, { forgetCaches: () => server.forgetCaches() })
    // Publish to the fleet last: etcd never holds up serving, and sees the loaded registry.
    const fleet = options.fleet === undefined ? undefined : startFleet(options.fleet, { manager, log, runtimeDir: options.runtimeDir, version: version() })
    // Now that launchers can register: adopt the running ones, start the enabled ones.
    await machineServices.startup().catch((err: unknown) => log.warn('Failed to start machine services, ignoring', { error: String(err) }))
    log.info('Serving org.freedesktop.machine1', { bus: systemBus.address, unique: systemBus.bus.uniqueName, machines: manager.list().length - 1 })

    return {
      manager, systemBus,
      stop: () => {
        varlink?.close().catch((err: unknown) => log.warn('Failed to close the Varlink socket, ignoring', { error: String(err) }))
        heapTrim.dispose()
        fleet?.dispose()
        transfers.dispose()
        machineServices.dispose()
        server.dispose()
        manager.dispose()
        if ('dispose' in units && typeof units.dispose === 'function') (units.dispose as () => void)()
        processes.dispose()
        systemBus.close()
      },
    }
  } catch (err) {
    systemBus.close()
    throw err
  }
}

/** Runs the daemon until SIGTERM/SIGINT; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv[0] !== undefined && (SERVICE_COMMANDS as readonly string[]).includes(argv[0])) return runServiceCommand(argv)
  let parsed: Parsed
  try {
    parsed = parseDaemonArgs(argv)
  } catch (err) {
    process.stderr.write(`machined: ${(err as Error).message}\n`)
    return 2
  }
  if ('help' in parsed) { process.stdout.write(HELP); return 0 }
  if ('version' in parsed) { process.stdout.write(`machined-ts ${version()}\n`); return 0 }
  const log = new StderrLog(parsed.options.logLevel)
  keepYoungGenerationSmall()
  let daemon: RunningDaemon
  let service: ServiceManagerLink | undefined
  try {
    service = ServiceManagerLink.fromEnvironment(log)
    daemon = await startDaemon(parsed.options, log, { varlinkFd: service.varlinkFd })
  } catch (err) {
    service?.dispose()
    log.error('Failed to start', { error: (err as Error).message })
    return 1
  }
  service.ready({ machines: daemon.manager.list().length - 1, varlink: parsed.options.varlinkSocket !== undefined })
  return new Promise<number>((resolve) => {
    let done = false
    const finish = (code: number): void => {
      if (done) return
      done = true
      service.stopping()
      daemon.stop()
      resolve(code)
    }
    process.once('SIGTERM', () => { log.info('Stopping; machines stay registered on disk', { signal: 'SIGTERM' }); finish(0) })
    process.once('SIGINT', () => { log.info('Stopping; machines stay registered on disk', { signal: 'SIGINT' }); finish(0) })
    // Like systemd-machined, we cannot serve without the bus.
    daemon.systemBus.bus.onClose((err) => { log.error('Lost the connection to the system bus', { error: String(err) }); finish(1) })
  })
}
