/**
 * org.freedesktop.machine1.Machine objects (systemd's machine-dbus.c), and
 * the per-machine operations the Manager's *Machine methods share with
 * them: decode → authorise (in the core) → core → encode.
 * @module
 */

import { MACHINE_INTERFACE } from '../../protocol/dbus/org.freedesktop.machine1.ts'
import type { Caller } from '../../core/authorization.ts'
import type { Machine } from '../../core/machine.ts'
import type { Manager, MachineView } from '../../core/manager.ts'
import type { MachinePty } from '../../core/ports.ts'
import type { IncomingCall } from '../../wire/dbus/bus.ts'
import { encodeAddresses, encodeStringMap } from './decode.ts'
import { EMPTY_REPLY, type ObjectInterface, type Reply } from './object-tree.ts'

export interface DbusContext {
  readonly manager: Manager
  callerOf(call: IncomingCall): Promise<Caller>
}

function ptyReply(pty: MachinePty): Reply {
  return { signature: 'hs', body: [pty.master, pty.path] }
}

/** The operations both the Manager (by name) and a Machine object expose. */
export const machineOperations = {
  async terminate(ctx: DbusContext, call: IncomingCall, name: string): Promise<Reply> {
    await ctx.manager.terminate(name, await ctx.callerOf(call))
    return EMPTY_REPLY
  },
  async kill(ctx: DbusContext, call: IncomingCall, name: string, whom: string, signal: number): Promise<Reply> {
    await ctx.manager.kill(name, whom, signal, await ctx.callerOf(call))
    return EMPTY_REPLY
  },
  async addresses(ctx: DbusContext, name: string): Promise<Reply> {
    return { signature: 'a(iay)', body: [encodeAddresses(await ctx.manager.addresses(name))] }
  },
  async osRelease(ctx: DbusContext, name: string): Promise<Reply> {
    return { signature: 'a{ss}', body: [encodeStringMap(await ctx.manager.osRelease(name))] }
  },
  async uidShift(ctx: DbusContext, name: string): Promise<Reply> {
    return { signature: 'u', body: [await ctx.manager.uidShift(name)] }
  },
  /** The fd goes out with the reply; the connection closes our copy once the kernel has it. */
  async openRootDirectory(ctx: DbusContext, call: IncomingCall, name: string): Promise<Reply> {
    return { signature: 'h', body: [await ctx.manager.openRootDirectory(name, await ctx.callerOf(call))] }
  },
  /** Copy{From,To}[WithFlags]: `args` is (source, destination[, flags]). */
  async copy(ctx: DbusContext, call: IncomingCall, name: string, direction: 'from' | 'to', args: readonly unknown[]): Promise<Reply> {
    const flags = args.length > 2 ? args[2] as bigint : 0n
    await ctx.manager.copy(name, { direction, source: args[0] as string, destination: args[1] as string, flags }, await ctx.callerOf(call))
    return EMPTY_REPLY
  },
  /** BindMount: `args` is (source, destination, read_only, mkdir). */
  async bindMount(ctx: DbusContext, call: IncomingCall, name: string, args: readonly unknown[]): Promise<Reply> {
    const [source, destination, readOnly, mkdir] = args as [string, string, boolean, boolean]
    await ctx.manager.bindMount(name, { source, destination, readOnly, mkdir }, await ctx.callerOf(call))
    return EMPTY_REPLY
  },
  /** The pty's master goes to the caller: the connection owns the fd once it is in the reply, and closes it once sent. */
  async openPty(ctx: DbusContext, call: IncomingCall, name: string): Promise<Reply> {
    return ptyReply(await ctx.manager.openPty(name, await ctx.callerOf(call)))
  },
  async openLogin(ctx: DbusContext, call: IncomingCall, name: string): Promise<Reply> {
    return ptyReply(await ctx.manager.openLogin(name, await ctx.callerOf(call)))
  },
  /** OpenShell(user, path, args, environment), the arguments starting at `at`. */
  async openShell(ctx: DbusContext, call: IncomingCall, name: string, at: number): Promise<Reply> {
    const [user, path, args, environment] = call.body.slice(at) as [string, string, string[], string[]]
    return ptyReply(await ctx.manager.openShell(name, { user, path, args, environment }, await ctx.callerOf(call)))
  },
}

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

/** `view`: what the caller may see of the machine (only properties need it). */
export function machineObject(ctx: DbusContext, machine: Machine, view: MachineView): ObjectInterface {
  const name = machine.name
  const ops = machineOperations
  return {
    description: MACHINE_INTERFACE,
    property: machineProperties(machine, view),
    methods: {
      Terminate: (call) => ops.terminate(ctx, call, name),
      Kill: (call) => ops.kill(ctx, call, name, call.body[0] as string, call.body[1] as number),
      GetAddresses: () => ops.addresses(ctx, name),
      GetOSRelease: () => ops.osRelease(ctx, name),
      GetUIDShift: () => ops.uidShift(ctx, name),
      BindMount: (call) => ops.bindMount(ctx, call, name, call.body),
      CopyFrom: (call) => ops.copy(ctx, call, name, 'from', call.body),
      CopyTo: (call) => ops.copy(ctx, call, name, 'to', call.body),
      CopyFromWithFlags: (call) => ops.copy(ctx, call, name, 'from', call.body),
      CopyToWithFlags: (call) => ops.copy(ctx, call, name, 'to', call.body),
      OpenRootDirectory: (call) => ops.openRootDirectory(ctx, call, name),
      OpenPTY: (call) => ops.openPty(ctx, call, name),
      OpenLogin: (call) => ops.openLogin(ctx, call, name),
      OpenShell: (call) => ops.openShell(ctx, call, name, 0),
    },
  }
}
