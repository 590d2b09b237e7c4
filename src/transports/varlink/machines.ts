/**
 * io.machinedts.Machines on the Varlink server: machines from images as
 * services, and what machined-ts knows of a machine beyond systemd's
 * fields (core/machine-services.ts). A start that fails is StartFailed
 * with the core's message (what the launcher said), since a Varlink error
 * name alone would not tell the admin why; every other error is mapped as
 * for io.systemd.Machine (errors.ts).
 * @module
 */

import type { Caller } from '../../core/authorization.ts'
import { describeMachine, setMachineServiceEnabled, startMachineService } from '../../core/machine-services.ts'
import type { Manager } from '../../core/manager.ts'
import type { MachineServices } from '../../core/ports.ts'
import { MachinedError, NotSupportedError } from '../../protocol/errors.ts'
import { machineNameIsValid } from '../../protocol/hostname.ts'
import type { MethodName } from '../../protocol/varlink/idl.ts'
import { MACHINES_ERRORS, MACHINES_INTERFACE } from '../../protocol/varlink/io.machinedts.Machines.ts'
import { invalidParameter, VarlinkError } from './errors.ts'
import type { InterfaceBinding, MethodHandler, VarlinkCall } from './server.ts'

export interface MachinesBindingOptions {
  readonly manager: Manager
  /** undefined: this daemon runs no machines from images (every method but Describe is NotSupported). */
  readonly services: MachineServices | undefined
}

function callerOf(call: VarlinkCall): Caller {
  return { uid: call.peer.uid, pid: call.peer.pid }
}

function nameOf(call: VarlinkCall): string {
  const name = call.parameters.name as string
  if (!machineNameIsValid(name)) throw invalidParameter('name')
  return name
}

export function machinesBinding(options: MachinesBindingOptions): InterfaceBinding {
  const { manager } = options
  const services = (): MachineServices => {
    if (options.services === undefined) throw new NotSupportedError('This machined runs no machines from images.')
    return options.services
  }

  const handlers = {
    Start: async (call) => {
      const name = nameOf(call)
      try {
        await startMachineService(manager, services(), name, callerOf(call))
      } catch (err) {
        if (err instanceof MachinedError && err.code === 'FAILED') throw new VarlinkError(MACHINES_ERRORS.START_FAILED, { message: err.message })
        throw err
      }
      return {}
    },
    Enable: async (call) => {
      await setMachineServiceEnabled(manager, services(), nameOf(call), true, callerOf(call))
      return {}
    },
    Disable: async (call) => {
      await setMachineServiceEnabled(manager, services(), nameOf(call), false, callerOf(call))
      return {}
    },
    Describe: async (call) => {
      const d = await describeMachine(manager, options.services, nameOf(call), callerOf(call))
      return {
        ...(d.imageName === undefined ? {} : { imageName: d.imageName }),
        ...(d.imagePath === undefined ? {} : { imagePath: d.imagePath }),
        enabled: d.enabled,
      }
    },
  } satisfies Record<MethodName<typeof MACHINES_INTERFACE>, MethodHandler>

  return { description: MACHINES_INTERFACE, handlers }
}
