/**
 * Machines from images, as services: what `machinectl start`, `enable` and
 * `disable` do through systemd (StartUnit on systemd-nspawn@NAME.service,
 * waiting for its job; EnableUnitFiles), here behind the MachineServices
 * port (systemd's template units where systemd is PID 1, the daemon's own
 * supervisor elsewhere). Start returns once the machine is registered, or
 * fails with what its launcher said. Only root may start, enable or
 * disable; each start in progress is one of the operations under the
 * shared limit.
 * @module
 */

import { FailedError, InvalidArgsError, MachineExistsError, NoSuchImageError } from '../protocol/errors.ts'
import { machineNameIsValid } from '../protocol/hostname.ts'
import { ACTIONS, type Caller } from './authorization.ts'
import type { Manager } from './manager.ts'
import type { Image, MachineServices } from './ports.ts'

/** How long Start waits for the machine to register: systemd's DefaultTimeoutStartSec=. */
export const START_TIMEOUT_MS = 90_000

/** The image a service runs: its name must be a machine's name too (which also keeps out `.host` and hidden images). */
async function serviceImage(manager: Manager, name: string): Promise<Image> {
  if (!machineNameIsValid(name)) throw new InvalidArgsError(`Invalid machine name ${name}.`, { parameter: 'name' })
  const image = await manager.ports.images.find(name)
  if (image === undefined) throw new NoSuchImageError(name)
  return image
}

/** Resolves once a machine of this name is registered; dispose() stops waiting. */
function registration(manager: Manager, name: string): { readonly registered: Promise<void>; dispose(): void } {
  let resolve!: () => void
  const registered = new Promise<void>((r) => { resolve = r })
  const subscription = manager.on({ machineNew: (m) => { if (m.name === name) resolve() } })
  return { registered, dispose: () => subscription.dispose() }
}

/** machinectl start NAME: boots image NAME as a service and resolves once its machine is registered. */
export async function startMachineService(manager: Manager, services: MachineServices, name: string, caller: Caller): Promise<void> {
  manager.ports.authorizer.check(caller, ACTIONS.manageMachines)
  const image = await serviceImage(manager, name)
  if (manager.find(name) !== undefined) {
    // As StartUnit on an active unit: nothing to do. A machine of that name that is no service of ours is in the way.
    if (await services.runs(name)) return
    throw new MachineExistsError(name)
  }
  await manager.runOperation(async () => {
    const wait = registration(manager, name)
    let timer: { dispose(): void } | undefined
    try {
      const launch = await services.start(image)
      const timedOut = new Promise<'timeout'>((r) => { timer = manager.ports.clock.setTimeout(() => r('timeout'), START_TIMEOUT_MS) })
      const outcome = await Promise.race([wait.registered.then(() => 'registered' as const), launch.ended, timedOut])
      if (outcome === 'timeout') throw new FailedError(`Machine ${name} did not register within ${START_TIMEOUT_MS / 1000}s; its launcher runs on.`)
      if (outcome !== 'registered' && manager.find(name) === undefined) throw new FailedError(`Failed to start machine ${name}: ${outcome}`)
    } finally {
      timer?.dispose()
      wait.dispose()
    }
  })
}

/** machinectl enable/disable NAME: the image must exist, as machinectl checks. */
export async function setMachineServiceEnabled(manager: Manager, services: MachineServices, name: string, enable: boolean, caller: Caller): Promise<void> {
  manager.ports.authorizer.check(caller, ACTIONS.manageMachines)
  const image = await serviceImage(manager, name)
  if (enable) await services.enable(image)
  else await services.disable(image.name)
}

export interface MachineDescription {
  /** The pool image it runs from, as its launcher registered it. */
  readonly imageName: string | undefined
  /** Where that image is: for root and the machine's owner only, as RootDirectory. */
  readonly imagePath: string | undefined
  readonly enabled: boolean
}

/** What machined-ts knows of a registered machine beyond systemd's fields. */
export async function describeMachine(manager: Manager, services: MachineServices | undefined, name: string, caller: Caller): Promise<MachineDescription> {
  const machine = manager.get(name)
  const extras = manager.extras(machine)
  const mayInspect = manager.ports.authorizer.mayInspect(caller, machine.ownerUid)
  const enabled = services === undefined || !machineNameIsValid(name) ? false : await services.enabled(name)
  return { imageName: extras.imageName, imagePath: mayInspect ? extras.imagePath : undefined, enabled }
}
