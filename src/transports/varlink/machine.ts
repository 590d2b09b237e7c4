/**
 * io.systemd.Machine on the Varlink server (systemd's machine-varlink.c and
 * machined-varlink.c): each method decodes its parameters, finds the
 * machine, calls the same core Manager the D-Bus objects use (which
 * authorises) and encodes the answer, so a change made over one transport
 * is seen over the other. Errors are mapped in errors.ts, except where
 * systemd's Varlink binding picks a name of its own, noted below.
 * Open and OpenRootDirectory pass their fd with the reply, as newer
 * systemd does (sd_varlink_push_fd()).
 * @module
 */

import type { Caller } from '../../core/authorization.ts'
import type { Machine } from '../../core/machine.ts'
import { killMachine, terminateMachine, unregisterMachine } from '../../core/machine-control.ts'
import { bindMountIntoMachine, copyMachineFiles, MACHINE_COPY_REPLACE, openMachineRootDirectory } from '../../core/machine-files.ts'
import { mapFromMachine, mapToMachine } from '../../core/machine-ids.ts'
import { checkTerminal, openMachineLogin, openMachinePty, openMachineShell } from '../../core/machine-terminals.ts'
import type { Manager } from '../../core/manager.ts'
import { registerMachine } from '../../core/register.ts'
import { environmentIsValid } from '../../core/shell-request.ts'
import { MachinedError } from '../../protocol/errors.ts'
import type { MethodName } from '../../protocol/varlink/idl.ts'
import { MACHINE_ERRORS, MACHINE_INTERFACE } from '../../protocol/varlink/io.systemd.Machine.ts'
import { SERVICE_ERRORS } from '../../protocol/varlink/org.varlink.service.ts'
import { killWhomFromString } from '../../protocol/vocabulary.ts'
import { decodeId, decodeLookup, decodePaths, decodeRegister, decodeSignal, lookupNameIsValid, type ProcessIdentity } from './decode.ts'
import { encodeMachine, encodeMachines, type AcquireMetadata } from './encode.ts'
import { invalidParameter, VarlinkError } from './errors.ts'
import { absolutePathValue } from './values.ts'
import type { InterfaceBinding, MethodHandler, VarlinkCall } from './server.ts'

export interface MachineBindingOptions {
  readonly manager: Manager
  readonly identity: ProcessIdentity
}

const noSuchMachine = (): VarlinkError => new VarlinkError(MACHINE_ERRORS.NO_SUCH_MACHINE)

/** valid_user_group_name() with VALID_USER_RELAX, as json_dispatch_const_user_group_name() applies it: anything a passwd line can hold. */
function userNameIsValid(name: string): boolean {
  // eslint-disable-next-line no-control-regex -- the control characters are what it refuses
  return name !== '' && name !== '.' && name !== '..' && !name.startsWith('-') && !/[\s:/\x00-\x1f\x7f]/.test(name) && name.length <= 256
}

function callerOf(call: VarlinkCall): Caller {
  return { uid: call.peer.uid, pid: call.peer.pid }
}

/** Rethrows the core's error for `code` as the Varlink error `name`. */
function renaming<T>(code: MachinedError['code'], name: string, work: () => Promise<T>): Promise<T> {
  return work().catch((err: unknown) => {
    throw err instanceof MachinedError && err.code === code ? new VarlinkError(name) : err
  })
}

export function machineBinding(options: MachineBindingOptions): InterfaceBinding {
  const { manager, identity } = options

  /**
   * lookup_machine_by_name_or_pidref(): by name, by PID (0: the caller's
   * machine), or both, which must agree. Undefined when neither is given.
   * Every per-machine method decodes its own parameters, then finds its
   * machine here once (lookUp(), systemd's lookup_machine_and_call_method())
   * and calls the core with it.
   */
  const find = async (call: VarlinkCall): Promise<Machine | undefined> => {
    const { name, pid, foreign } = decodeLookup(call.parameters, identity)
    let byName: Machine | undefined
    if (name !== undefined) {
      if (!lookupNameIsValid(name)) throw invalidParameter('name')
      byName = manager.find(name)
      if (byName === undefined) throw noSuchMachine()
    }
    if (pid === undefined) return byName
    if (foreign) throw noSuchMachine()
    const byPid = await manager.getByPid(pid, callerOf(call)).catch((err: unknown) => {
      throw err instanceof MachinedError && (err.code === 'NO_MACHINE_FOR_PID' || err.code === 'NO_SUCH_PROCESS') ? noSuchMachine() : err
    })
    if (byName !== undefined && byName !== byPid) throw noSuchMachine()
    return byPid
  }
  const lookUp = async (call: VarlinkCall): Promise<Machine> => {
    const machine = await find(call)
    if (machine === undefined) throw noSuchMachine()
    return machine
  }
  /**
   * vl_method_open_root_directory(): the machine, then (in the core) the
   * caller and the class; the directory's fd goes back with the reply.
   * Without fd passing (a oneway call) the answer is PermissionDenied
   * before anything is opened, as for Open.
   */
  const openRootDirectory: MethodHandler = async (call) => {
    const machine = await lookUp(call)
    if (!call.canPassFds) throw new VarlinkError(SERVICE_ERRORS.PERMISSION_DENIED)
    return { fileDescriptor: call.pushFd(await openMachineRootDirectory(manager, machine, callerOf(call))) }
  }

  /** vl_method_copy_internal(): the operation cap first, then the parameters, the machine, its class. */
  const copy = async (call: VarlinkCall, direction: 'from' | 'to'): Promise<Record<string, unknown>> => {
    if (manager.operationsFull) throw new VarlinkError(MACHINE_ERRORS.TOO_MANY_OPERATIONS)
    const { source, destination } = decodePaths(call.parameters)
    const machine = await lookUp(call)
    if (machine.class !== 'container') throw new VarlinkError(MACHINE_ERRORS.NOT_SUPPORTED)
    const flags = call.parameters.replace === true ? MACHINE_COPY_REPLACE : 0n
    await copyMachineFiles(manager, machine, { direction, source, destination, flags }, callerOf(call))
    return {}
  }

  /**
   * vl_method_open(): user, path and environment are checked as its
   * dispatch table checks them, then the machine, the caller and the
   * machine's class; then the pty is opened (and its login or shell
   * started), and its master goes back as the reply's fd
   * (sd_varlink_push_fd()). A server that cannot pass fds answers
   * PermissionDenied, as sd-varlink does on such a connection, before it
   * opens anything.
   */
  const openMethod: MethodHandler = async (call) => {
    const p = call.parameters
    const mode = p.mode as 'tty' | 'login' | 'shell'
    const user = (p.user as string | null | undefined) ?? ''
    const path = (p.path as string | null | undefined) ?? ''
    const args = (p.args as string[] | null | undefined) ?? []
    const environment = (p.environment as string[] | null | undefined) ?? []
    if (user !== '' && !userNameIsValid(user)) throw invalidParameter('user')
    if (path !== '' && absolutePathValue(path) === undefined) throw invalidParameter('path')
    if (args.some((a) => a.includes('\0'))) throw invalidParameter('args')
    if (!environmentIsValid(environment)) throw invalidParameter('environment')
    const machine = await lookUp(call)
    const caller = callerOf(call)
    checkTerminal(manager, machine, mode, caller)
    if (!call.canPassFds) throw new VarlinkError(SERVICE_ERRORS.PERMISSION_DENIED)
    const pty = mode === 'tty'
      ? await openMachinePty(manager, machine, caller)
      : mode === 'login'
        ? await openMachineLogin(manager, machine, caller)
        // A user the guest does not know (found out where we start the session ourselves): the interface's NoSuchUser;
        // a leader that died is NoSuchProcess's own mapping.
        : await openMachineShell(manager, machine, { user, path, args, environment }, caller).catch((err: unknown) => {
          throw err instanceof MachinedError && err.code === 'NO_SUCH_PROCESS' && err.parameter === 'user' ? new VarlinkError(MACHINE_ERRORS.NO_SUCH_USER) : err
        })
    return { ptyFileDescriptor: call.pushFd(pty.master), ptyPath: pty.path }
  }

  const handlers = {
    Register: async (call) => {
      const { request, leaderField } = decodeRegister(call.parameters, identity)
      try {
        await registerMachine(manager, request, callerOf(call))
      } catch (err) {
        // A leader named by the client that does not run fails its dispatch in systemd (SD_JSON_STRICT pins it).
        if (leaderField !== undefined && err instanceof MachinedError && (err.code === 'NO_SUCH_PROCESS' || err.parameter === 'leader')) {
          throw invalidParameter(leaderField)
        }
        throw err
      }
      return {}
    },
    Unregister: async (call) => {
      await unregisterMachine(manager, await lookUp(call), callerOf(call))
      return {}
    },
    Terminate: async (call) => {
      await terminateMachine(manager, await lookUp(call), callerOf(call))
      return {}
    },
    Kill: async (call) => {
      const signal = decodeSignal(call.parameters.signal)
      const machine = await lookUp(call)
      const whom = (call.parameters.whom as string | null | undefined) ?? ''
      if (whom !== '' && killWhomFromString(whom) === undefined) throw invalidParameter('whom')
      await killMachine(manager, machine, whom, signal, callerOf(call))
      return {}
    },
    List: async (call) => {
      const mode = (call.parameters.acquireMetadata as AcquireMetadata | null | undefined) ?? 'no'
      const caller = callerOf(call)
      const one = await find(call)
      if (one !== undefined) return encodeMachine(manager, identity, one, { mode, caller })
      if (!call.more) throw new VarlinkError(SERVICE_ERRORS.EXPECTED_MORE)
      let previous: Record<string, unknown> | undefined
      for await (const reply of encodeMachines(manager, identity, manager.list(), { mode, caller })) {
        if (previous !== undefined) call.notify(previous)
        previous = reply
      }
      if (previous === undefined) throw noSuchMachine()
      return previous
    },
    MapFrom: async (call) => {
      const uid = decodeId(call.parameters, 'uid')
      const gid = decodeId(call.parameters, 'gid')
      const machine = await lookUp(call)
      if (machine.class !== 'container') throw new VarlinkError(MACHINE_ERRORS.NOT_SUPPORTED)
      const out: Record<string, number> = {}
      if (uid !== undefined) out.uid = await renaming('NO_SUCH_USER_MAPPING', MACHINE_ERRORS.NO_SUCH_USER, () => mapFromMachine(manager, machine, uid, 'user'))
      // The core (like systemd's D-Bus side) names a missing group mapping a user mapping; Varlink has NoSuchGroup.
      if (gid !== undefined) out.gid = await renaming('NO_SUCH_USER_MAPPING', MACHINE_ERRORS.NO_SUCH_GROUP, () => mapFromMachine(manager, machine, gid, 'group'))
      return out
    },
    MapTo: async (call) => {
      const uid = decodeId(call.parameters, 'uid')
      const gid = decodeId(call.parameters, 'gid')
      if (uid !== undefined && uid < 0x10000) throw new VarlinkError(MACHINE_ERRORS.USER_IN_HOST_RANGE)
      if (gid !== undefined && gid < 0x10000) throw new VarlinkError(MACHINE_ERRORS.GROUP_IN_HOST_RANGE)
      const byUid = uid === undefined ? undefined : await mapToMachine(manager, uid, 'user')
      const byGid = gid === undefined ? undefined : await mapToMachine(manager, gid, 'group')
      if (byUid !== undefined && byGid !== undefined && byUid.machine !== byGid.machine) throw noSuchMachine()
      const machine = byUid?.machine ?? byGid?.machine
      if (machine === undefined) throw noSuchMachine()
      return {
        ...(byUid === undefined ? {} : { uid: byUid.inside }),
        ...(byGid === undefined ? {} : { gid: byGid.inside }),
        machineName: machine.name,
      }
    },
    Open: openMethod,
    OpenRootDirectory: openRootDirectory,
    BindMount: async (call) => {
      const { source, destination } = decodePaths(call.parameters)
      const machine = await lookUp(call)
      if (machine.class !== 'container') throw new VarlinkError(MACHINE_ERRORS.NOT_SUPPORTED)
      const flag = (k: string): boolean => (call.parameters[k] as boolean | null | undefined) ?? false
      await bindMountIntoMachine(manager, machine, { source, destination, readOnly: flag('readOnly'), mkdir: flag('mkdir') }, callerOf(call))
      return {}
    },
    CopyFrom: (call) => copy(call, 'from'),
    CopyTo: (call) => copy(call, 'to'),
  } satisfies Record<MethodName<typeof MACHINE_INTERFACE>, MethodHandler>

  return {
    description: MACHINE_INTERFACE,
    handlers,
    // One client snapshot sent networkInterfaces for ifIndices (spec B0): accepted as the same field.
    aliases: { Register: { networkInterfaces: 'ifIndices' } },
  }
}
