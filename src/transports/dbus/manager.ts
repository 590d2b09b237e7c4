/**
 * The org.freedesktop.machine1.Manager object (systemd's machined-dbus.c):
 * each method decodes its arguments, calls the core (which authorises)
 * and encodes the answer. Images are not managed by machined-ts: the pool
 * reads as empty, as on a host without /var/lib/machines.
 * @module
 */

import { MANAGER_INTERFACE } from '../../protocol/dbus/org.freedesktop.machine1.ts'
import { machineObjectPath } from '../../protocol/bus-path.ts'
import { InvalidArgsError, MachinedError, NotSupportedError } from '../../protocol/errors.ts'
import type { Machine } from '../../core/machine.ts'
import type { IncomingCall } from '../../wire/dbus/bus.ts'
import { decodeRegister, decodeRegisterEx } from './decode.ts'
import { machineOperations as ops, type DbusContext } from './machine.ts'
import type { MethodHandler, ObjectInterface, Reply } from './object-tree.ts'

const UINT64_MAX = 0xffff_ffff_ffff_ffffn
export const POOL_PATH = '/var/lib/machines'

function noSuchImage(name: string): MachinedError {
  return new MachinedError('NO_SUCH_IMAGE', `No image '${name}' known`)
}

/**
 * ListMachines rows, built once per machine (name, class, service and
 * so the path never change): with thousands of machines, building the
 * rows and paths anew cost as much as marshalling them.
 */
const listRows = new WeakMap<Machine, readonly [string, string, string, string]>()

function listRow(m: Machine): readonly [string, string, string, string] {
  let row = listRows.get(m)
  if (row === undefined) {
    row = [m.name, m.class ?? '', m.service, machineObjectPath(m.name)]
    listRows.set(m, row)
  }
  return row
}

const str = (call: IncomingCall, i: number): string => call.body[i] as string
const num = (call: IncomingCall, i: number): number => call.body[i] as number

export function managerObject(ctx: DbusContext): ObjectInterface {
  const { manager } = ctx
  const path = (name: string): Reply => ({ signature: 'o', body: [machineObjectPath(name)] })
  const register = (decode: (call: IncomingCall) => ReturnType<typeof decodeRegister>): MethodHandler => async (call) => {
    const request = decode(call)
    const machine = await manager.register(request, await ctx.callerOf(call))
    return path(machine.name)
  }
  const image: MethodHandler = async (call) => { throw noSuchImage(str(call, 0)) }
  const mapFrom = (kind: 'user' | 'group'): MethodHandler => async (call) =>
    ({ signature: 'u', body: [await manager.mapFromMachine(str(call, 0), num(call, 1), kind)] })
  const mapTo = (kind: 'user' | 'group'): MethodHandler => async (call) => {
    const { machine, inside } = await manager.mapToMachine(num(call, 0), kind)
    return { signature: 'sou', body: [machine.name, machineObjectPath(machine.name), inside] }
  }

  const methods: Record<string, MethodHandler> = {
    GetMachine: async (call) => path(manager.get(str(call, 0)).name),
    GetImage: image,
    GetMachineByPID: async (call) => path((await manager.getByPid(num(call, 0), await ctx.callerOf(call))).name),
    ListMachines: async () => ({
      signature: 'a(ssso)',
      body: [manager.list().map(listRow)],
    }),
    ListImages: async () => ({ signature: 'a(ssbttto)', body: [[]] }),
    CreateMachine: register((c) => decodeRegister(c.body, { network: false, create: true })),
    CreateMachineWithNetwork: register((c) => decodeRegister(c.body, { network: true, create: true })),
    RegisterMachine: register((c) => decodeRegister(c.body, { network: false, create: false })),
    RegisterMachineWithNetwork: register((c) => decodeRegister(c.body, { network: true, create: false })),
    CreateMachineEx: register((c) => decodeRegisterEx(c.body, { create: true })),
    RegisterMachineEx: register((c) => decodeRegisterEx(c.body, { create: false })),
    UnregisterMachine: async (call) => {
      await manager.unregister(str(call, 0), await ctx.callerOf(call))
      return { signature: '', body: [] }
    },
    TerminateMachine: (call) => ops.terminate(ctx, call, str(call, 0)),
    KillMachine: (call) => ops.kill(ctx, call, str(call, 0), str(call, 1), num(call, 2)),
    GetMachineAddresses: (call) => ops.addresses(ctx, str(call, 0)),
    GetMachineOSRelease: (call) => ops.osRelease(ctx, str(call, 0)),
    GetMachineUIDShift: (call) => ops.uidShift(ctx, str(call, 0)),
    OpenMachinePTY: (call) => ops.openPty(ctx, call, str(call, 0)),
    OpenMachineLogin: (call) => ops.openLogin(ctx, call, str(call, 0)),
    OpenMachineShell: (call) => ops.openShell(ctx, call, str(call, 0), 1),
    BindMountMachine: (call) => ops.bindMount(ctx, call, str(call, 0), call.body.slice(1)),
    CopyFromMachine: (call) => ops.copy(ctx, call, str(call, 0), 'from', call.body.slice(1)),
    CopyToMachine: (call) => ops.copy(ctx, call, str(call, 0), 'to', call.body.slice(1)),
    CopyFromMachineWithFlags: (call) => ops.copy(ctx, call, str(call, 0), 'from', call.body.slice(1)),
    CopyToMachineWithFlags: (call) => ops.copy(ctx, call, str(call, 0), 'to', call.body.slice(1)),
    OpenMachineRootDirectory: (call) => ops.openRootDirectory(ctx, call, str(call, 0)),
    RemoveImage: image,
    RenameImage: image,
    CloneImage: image,
    MarkImageReadOnly: image,
    GetImageHostname: image,
    GetImageMachineID: image,
    GetImageMachineInfo: image,
    GetImageOSRelease: image,
    SetPoolLimit: async (call) => {
      ctx.manager.checkManageImages(await ctx.callerOf(call))
      throw new NotSupportedError('Quota is only supported on btrfs.')
    },
    SetImageLimit: image,
    CleanPool: async (call) => {
      ctx.manager.checkManageImages(await ctx.callerOf(call))
      const mode = str(call, 0)
      if (mode !== 'all' && mode !== 'hidden') throw new InvalidArgsError(`Unknown mode '${mode}'.`)
      return { signature: 'a(st)', body: [[]] }
    },
    MapFromMachineUser: mapFrom('user'),
    MapToMachineUser: mapTo('user'),
    MapFromMachineGroup: mapFrom('group'),
    MapToMachineGroup: mapTo('group'),
  }

  return {
    description: MANAGER_INTERFACE,
    property: (name) => {
      switch (name) {
        case 'PoolPath': return POOL_PATH
        // UINT64_MAX: what systemd reports when the pool is not a btrfs subvolume with quota.
        case 'PoolUsage': return UINT64_MAX
        case 'PoolLimit': return UINT64_MAX
        default: return undefined
      }
    },
    methods,
  }
}
