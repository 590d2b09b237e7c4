/**
 * The org.freedesktop.machine1.Manager object (systemd's machined-dbus.c):
 * each method decodes its arguments, calls the core (which authorises)
 * and encodes the answer. The image methods and pool properties are in
 * manager-images.ts.
 * @module
 */

import { MANAGER_INTERFACE, type MethodName } from '../../protocol/dbus/org.freedesktop.machine1.ts'
import { machineObjectPath } from '../../protocol/bus-path.ts'
import { unregisterMachine } from '../../core/machine-control.ts'
import { checkId, mapFromMachine, mapToMachine, type IdKind } from '../../core/machine-ids.ts'
import { registerMachine, type RegisterRequest } from '../../core/register.ts'
import type { IncomingCall } from '../../wire/dbus/bus.ts'
import { decodeRegister, decodeRegisterEx } from './decode.ts'
import { MachineListReply } from './list-machines.ts'
import { machineMethods as m, type DbusContext, type MachineMethod } from './machine.ts'
import { managerImageMethods, poolProperties } from './manager-images.ts'
import { EMPTY_REPLY, type MethodHandler, type ObjectInterface, type Reply } from './object-tree.ts'

const str = (call: IncomingCall, i: number): string => call.body[i] as string
const num = (call: IncomingCall, i: number): number => call.body[i] as number

/** `machineList`: ListMachines' reply, kept marshalled between changes (list-machines.ts). */
export function managerObject(ctx: DbusContext, machineList: { reply(): Reply } = new MachineListReply(ctx.manager)): ObjectInterface {
  const { manager } = ctx
  const path = (name: string): Reply => ({ signature: 'o', body: [machineObjectPath(name)] })
  /**
   * The Manager's *Machine(name, …) methods: look the machine up by name,
   * then run the Machine object's method on it (method_*_machine() in
   * machined-dbus.c, calling bus_machine_method_*()).
   */
  const byName = (method: MachineMethod): MethodHandler => async (call) => method(ctx, call, manager.get(str(call, 0)), call.body.slice(1))
  const register = (decode: (call: IncomingCall) => RegisterRequest): MethodHandler => async (call) => {
    const request = decode(call)
    const machine = await registerMachine(manager, request, await ctx.callerOf(call))
    return path(machine.name)
  }
  /** systemd checks the ID before it looks the machine up. */
  const mapFrom = (kind: IdKind): MethodHandler => async (call) => {
    checkId(num(call, 1), kind)
    return { signature: 'u', body: [await mapFromMachine(manager, manager.get(str(call, 0)), num(call, 1), kind)] }
  }
  const mapTo = (kind: IdKind): MethodHandler => async (call) => {
    const { machine, inside } = await mapToMachine(manager, num(call, 0), kind)
    return { signature: 'sou', body: [machine.name, machineObjectPath(machine.name), inside] }
  }
  const images = managerImageMethods(ctx)
  const pool = poolProperties(ctx)

  const methods = {
    GetMachine: async (call) => path(manager.get(str(call, 0)).name),
    GetImage: images.GetImage,
    GetMachineByPID: async (call) => path((await manager.getByPid(num(call, 0), await ctx.callerOf(call))).name),
    ListMachines: async () => machineList.reply(),
    ListImages: images.ListImages,
    CreateMachine: register((c) => decodeRegister(c.body, { network: false, create: true })),
    CreateMachineWithNetwork: register((c) => decodeRegister(c.body, { network: true, create: true })),
    RegisterMachine: register((c) => decodeRegister(c.body, { network: false, create: false })),
    RegisterMachineWithNetwork: register((c) => decodeRegister(c.body, { network: true, create: false })),
    CreateMachineEx: register((c) => decodeRegisterEx(c.body, { create: true })),
    RegisterMachineEx: register((c) => decodeRegisterEx(c.body, { create: false })),
    UnregisterMachine: async (call) => {
      await unregisterMachine(manager, manager.get(str(call, 0)), await ctx.callerOf(call))
      return EMPTY_REPLY
    },
    TerminateMachine: byName(m.terminate),
    KillMachine: byName(m.kill),
    GetMachineAddresses: byName(m.addresses),
    GetMachineOSRelease: byName(m.osRelease),
    OpenMachinePTY: byName(m.openPty),
    OpenMachineLogin: byName(m.openLogin),
    OpenMachineShell: byName(m.openShell),
    BindMountMachine: byName(m.bindMount),
    CopyFromMachine: byName(m.copyFrom),
    CopyToMachine: byName(m.copyTo),
    CopyFromMachineWithFlags: byName(m.copyFrom),
    CopyToMachineWithFlags: byName(m.copyTo),
    OpenMachineRootDirectory: byName(m.openRootDirectory),
    GetMachineUIDShift: byName(m.uidShift),
    RemoveImage: images.RemoveImage,
    RenameImage: images.RenameImage,
    CloneImage: images.CloneImage,
    MarkImageReadOnly: images.MarkImageReadOnly,
    GetImageHostname: images.GetImageHostname,
    GetImageMachineID: images.GetImageMachineID,
    GetImageMachineInfo: images.GetImageMachineInfo,
    GetImageOSRelease: images.GetImageOSRelease,
    SetPoolLimit: images.SetPoolLimit,
    SetImageLimit: images.SetImageLimit,
    CleanPool: images.CleanPool,
    MapFromMachineUser: mapFrom('user'),
    MapToMachineUser: mapTo('user'),
    MapFromMachineGroup: mapFrom('group'),
    MapToMachineGroup: mapTo('group'),
  } satisfies Record<MethodName<typeof MANAGER_INTERFACE>, MethodHandler>

  return {
    description: MANAGER_INTERFACE,
    prepare: pool.prepare,
    property: pool.property,
    methods,
  }
}
