/**
 * org.freedesktop.machine1.Machine objects (systemd's machine-dbus.c), and
 * the per-machine methods the Manager's *Machine(name, …) methods share
 * with them: each takes the machine already found (by object path, or by
 * name on the Manager), decodes, calls the core (which authorises) and
 * encodes.
 * @module
 */

import { MACHINE_INTERFACE, type MethodName } from '../../protocol/dbus/org.freedesktop.machine1.ts'
import type { Caller } from '../../core/authorization.ts'
import type { Machine } from '../../core/machine.ts'
import { killMachine, terminateMachine } from '../../core/machine-control.ts'
import { bindMountIntoMachine, copyMachineFiles, openMachineRootDirectory } from '../../core/machine-files.ts'
import { machineUidShift } from '../../core/machine-ids.ts'
import { machineAddresses, machineOsRelease } from '../../core/machine-inspect.ts'
import { openMachineLogin, openMachinePty, openMachineShell } from '../../core/machine-terminals.ts'
import type { Manager, MachineView } from '../../core/manager.ts'
import type { MachinePty } from '../../core/ports.ts'
import type { IncomingCall } from '../../wire/dbus/bus.ts'
import { encodeAddresses, encodeStringMap } from './decode.ts'
import { EMPTY_REPLY, type MethodHandler, type ObjectInterface, type Reply } from './object-tree.ts'

export interface DbusContext {
  readonly manager: Manager
  callerOf(call: IncomingCall): Promise<Caller>
}

/**
 * One per-machine method (bus_machine_method_*()): `args` are the call's
 * arguments after the machine's name (all of them on a Machine object).
 */
export type MachineMethod = (ctx: DbusContext, call: IncomingCall, machine: Machine, args: readonly unknown[]) => Promise<Reply>

function ptyReply(pty: MachinePty): Reply {
  return { signature: 'hs', body: [pty.master, pty.path] }
}

/** Copy{From,To}[WithFlags]: `args` is (source, destination[, flags]). */
function copy(direction: 'from' | 'to'): MachineMethod {
  return async (ctx, call, machine, args) => {
    const flags = args.length > 2 ? args[2] as bigint : 0n
    await copyMachineFiles(ctx.manager, machine, { direction, source: args[0] as string, destination: args[1] as string, flags }, await ctx.callerOf(call))
    return EMPTY_REPLY
  }
}

export const machineMethods = {
  terminate: async (ctx, call, machine) => {
    await terminateMachine(ctx.manager, machine, await ctx.callerOf(call))
    return EMPTY_REPLY
  },
  /** Kill(who, signal). */
  kill: async (ctx, call, machine, args) => {
    await killMachine(ctx.manager, machine, args[0] as string, args[1] as number, await ctx.callerOf(call))
    return EMPTY_REPLY
  },
  addresses: async (ctx, _call, machine) => ({ signature: 'a(iay)', body: [encodeAddresses(await machineAddresses(ctx.manager, machine))] }),
  osRelease: async (ctx, _call, machine) => ({ signature: 'a{ss}', body: [encodeStringMap(await machineOsRelease(ctx.manager, machine))] }),
  uidShift: async (ctx, _call, machine) => ({ signature: 'u', body: [await machineUidShift(ctx.manager, machine)] }),
  /** The fd goes out with the reply; the connection closes our copy once the kernel has it. */
  openRootDirectory: async (ctx, call, machine) => ({ signature: 'h', body: [await openMachineRootDirectory(ctx.manager, machine, await ctx.callerOf(call))] }),
  copyFrom: copy('from'),
  copyTo: copy('to'),
  /** BindMount(source, destination, read_only, mkdir). */
  bindMount: async (ctx, call, machine, args) => {
    const [source, destination, readOnly, mkdir] = args as [string, string, boolean, boolean]
    await bindMountIntoMachine(ctx.manager, machine, { source, destination, readOnly, mkdir }, await ctx.callerOf(call))
    return EMPTY_REPLY
  },
  /** The pty's master goes to the caller: the connection owns the fd once it is in the reply, and closes it once sent. */
  openPty: async (ctx, call, machine) => ptyReply(await openMachinePty(ctx.manager, machine, await ctx.callerOf(call))),
  openLogin: async (ctx, call, machine) => ptyReply(await openMachineLogin(ctx.manager, machine, await ctx.callerOf(call))),
  /** OpenShell(user, path, args, environment). */
  openShell: async (ctx, call, machine, args) => {
    const [user, path, argv, environment] = args as [string, string, string[], string[]]
    return ptyReply(await openMachineShell(ctx.manager, machine, { user, path, args: argv, environment }, await ctx.callerOf(call)))
  },
} satisfies Record<string, MachineMethod>

/**
 * Property values as `view` lets the caller see them: RootDirectory is
 * blank for callers who are neither root nor the machine's owner
 * (Manager.view, CVE-2016-6349).
 */
export function machineProperties(machine: Machine, view: MachineView): (name: string) => unknown {
  return (name) => {
    switch (name) {
      case 'Name': return machine.name
      // An all-zero id is "no id": an empty array, as systemd sends it.
      case 'Id': return Buffer.from(machine.idString === '' ? [] : machine.id)
      case 'Timestamp': return machine.timestamp.realtime
      case 'TimestampMonotonic': return machine.timestamp.monotonic
      case 'Service': return machine.service
      case 'Unit': return machine.unit?.unit ?? ''
      case 'Leader': return machine.leader.pid
      case 'Class': return machine.class ?? ''
      case 'RootDirectory': return view.rootDirectory
      case 'NetworkInterfaces': return [...machine.netifs]
      case 'State': return machine.state
      default: return undefined
    }
  }
}

/** The object at /org/freedesktop/machine1/machine/NAME; `view`: what the caller may see of the machine (only properties need it). */
export function machineObject(ctx: DbusContext, machine: Machine, view: MachineView): ObjectInterface {
  const on = (method: MachineMethod): MethodHandler => (call) => method(ctx, call, machine, call.body)
  const m = machineMethods
  return {
    description: MACHINE_INTERFACE,
    property: machineProperties(machine, view),
    methods: {
      Terminate: on(m.terminate),
      Kill: on(m.kill),
      GetAddresses: on(m.addresses),
      GetOSRelease: on(m.osRelease),
      GetUIDShift: on(m.uidShift),
      OpenPTY: on(m.openPty),
      OpenLogin: on(m.openLogin),
      OpenShell: on(m.openShell),
      BindMount: on(m.bindMount),
      CopyFrom: on(m.copyFrom),
      CopyTo: on(m.copyTo),
      CopyFromWithFlags: on(m.copyFrom),
      CopyToWithFlags: on(m.copyTo),
      OpenRootDirectory: on(m.openRootDirectory),
    } satisfies Record<MethodName<typeof MACHINE_INTERFACE>, MethodHandler>,
  }
}
