/**
 * Wiring machines from images, as services (io.machinedts.Machines): where
 * systemd runs our scopes it runs the launchers too, as template units
 * (backends/systemd-services.ts); elsewhere the daemon supervises them
 * itself (backends/supervisor.ts), told by the registry when a machine
 * registers or is being terminated, and started once the daemon serves,
 * so that enabled machines can register and running launchers are
 * adopted.
 * @module
 */

import type { Manager } from '../core/manager.ts'
import type { Disposable, Log, MachineServices, Processes, Units } from '../core/ports.ts'
import { Supervisor } from '../backends/supervisor.ts'
import { SystemdServices } from '../backends/systemd-services.ts'
import { SystemdUnits } from '../backends/systemd-units.ts'
import type { SystemBus } from './system-bus.ts'

/** Where the supervisor keeps what outlives the daemon: machines' logs, and the enabled ones. */
export const SUPERVISOR_LOG_DIR = '/var/log/machined-ts'
export const ENABLED_MACHINES_DIR = '/etc/machined-ts/enabled'

export interface MachineServicesWiring {
  readonly services: MachineServices
  /** Once the daemon serves: adopt running launchers, start enabled machines (nothing to do under systemd). */
  startup(): Promise<void>
  dispose(): void
}

export function wireMachineServices(options: {
  readonly manager: Manager
  readonly units: Units
  readonly systemBus: SystemBus
  readonly processes: Processes
  readonly runtimeDir: string
  readonly log: Log
}): MachineServicesWiring {
  const { manager, log } = options
  if (options.units instanceof SystemdUnits) {
    log.info('Machines from images run as systemd units (machined-spawn@, machined-vmspawn@)')
    return { services: new SystemdServices(options.systemBus.bus), startup: async () => undefined, dispose: () => undefined }
  }
  const supervisor = new Supervisor({
    runtimeDir: `${options.runtimeDir}/launchers`,
    logDir: SUPERVISOR_LOG_DIR,
    enabledDir: ENABLED_MACHINES_DIR,
    busAddress: options.systemBus.address,
    processes: options.processes,
    images: manager.ports.images,
    log,
    isRegistered: (name) => manager.find(name) !== undefined,
  })
  const events: Disposable = manager.on({
    machineNew: (m) => supervisor.machineRegistered(m.name),
    machineChanged: (m) => { if (m.state === 'closing') supervisor.machineStopping(m.name) },
  })
  return {
    services: supervisor,
    startup: () => supervisor.startup(),
    dispose: () => {
      events.dispose()
      supervisor.dispose()
    },
  }
}
