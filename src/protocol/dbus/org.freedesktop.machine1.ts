/**
 * The org.freedesktop.machine1 D-Bus contract: names, and every method,
 * property and signal of the Manager and Machine interfaces in the order
 * systemd-machined 252 declares them (test/fixtures/machined-252/introspect-*.xml),
 * plus CreateMachineEx/RegisterMachineEx from newer systemd. Introspection
 * and call validation are both generated from these tables.
 * @module
 */

export const BUS_NAME = 'org.freedesktop.machine1'
export const MANAGER_INTERFACE_NAME = 'org.freedesktop.machine1.Manager'
export const MACHINE_INTERFACE_NAME = 'org.freedesktop.machine1.Machine'
export const IMAGE_INTERFACE_NAME = 'org.freedesktop.machine1.Image'

export interface ArgDescription {
  /** The Image interface's methods name no arguments (SD_BUS_METHOD without names): no name attribute then. */
  readonly name?: string
  readonly type: string
  readonly direction: 'in' | 'out'
}
export interface MethodDescription {
  readonly name: string
  readonly args: readonly ArgDescription[]
  /** sd-bus writes org.freedesktop.systemd1.Privileged for methods not marked unprivileged. */
  readonly privileged?: boolean
}
export interface PropertyDescription {
  readonly name: string
  readonly type: string
  /** Value of org.freedesktop.DBus.Property.EmitsChangedSignal. */
  readonly emitsChange: 'true' | 'false' | 'const' | 'invalidates'
}
export interface SignalDescription {
  readonly name: string
  readonly args: readonly { readonly name: string; readonly type: string }[]
}
export interface InterfaceDescription {
  readonly name: string
  readonly methods: readonly MethodDescription[]
  readonly properties: readonly PropertyDescription[]
  readonly signals: readonly SignalDescription[]
}

/** The names of an interface's methods, for handler tables that must cover exactly those (`satisfies Record<…>`). */
export type MethodName<I extends InterfaceDescription> = I['methods'][number]['name']

export function inSignature(method: MethodDescription): string {
  return method.args.filter((a) => a.direction === 'in').map((a) => a.type).join('')
}

export const MANAGER_INTERFACE = {
  name: 'org.freedesktop.machine1.Manager',
  methods: [
    { name: 'GetMachine', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'machine', type: 'o', direction: 'out' }] },
    { name: 'GetImage', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'image', type: 'o', direction: 'out' }] },
    { name: 'GetMachineByPID', args: [{ name: 'pid', type: 'u', direction: 'in' }, { name: 'machine', type: 'o', direction: 'out' }] },
    { name: 'ListMachines', args: [{ name: 'machines', type: 'a(ssso)', direction: 'out' }] },
    { name: 'ListImages', args: [{ name: 'images', type: 'a(ssbttto)', direction: 'out' }] },
    { name: 'CreateMachine', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'id', type: 'ay', direction: 'in' }, { name: 'service', type: 's', direction: 'in' }, { name: 'class', type: 's', direction: 'in' }, { name: 'leader', type: 'u', direction: 'in' }, { name: 'root_directory', type: 's', direction: 'in' }, { name: 'scope_properties', type: 'a(sv)', direction: 'in' }, { name: 'path', type: 'o', direction: 'out' }], privileged: true },
    { name: 'CreateMachineWithNetwork', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'id', type: 'ay', direction: 'in' }, { name: 'service', type: 's', direction: 'in' }, { name: 'class', type: 's', direction: 'in' }, { name: 'leader', type: 'u', direction: 'in' }, { name: 'root_directory', type: 's', direction: 'in' }, { name: 'ifindices', type: 'ai', direction: 'in' }, { name: 'scope_properties', type: 'a(sv)', direction: 'in' }, { name: 'path', type: 'o', direction: 'out' }], privileged: true },
    { name: 'RegisterMachine', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'id', type: 'ay', direction: 'in' }, { name: 'service', type: 's', direction: 'in' }, { name: 'class', type: 's', direction: 'in' }, { name: 'leader', type: 'u', direction: 'in' }, { name: 'root_directory', type: 's', direction: 'in' }, { name: 'path', type: 'o', direction: 'out' }], privileged: true },
    { name: 'RegisterMachineWithNetwork', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'id', type: 'ay', direction: 'in' }, { name: 'service', type: 's', direction: 'in' }, { name: 'class', type: 's', direction: 'in' }, { name: 'leader', type: 'u', direction: 'in' }, { name: 'root_directory', type: 's', direction: 'in' }, { name: 'ifindices', type: 'ai', direction: 'in' }, { name: 'path', type: 'o', direction: 'out' }], privileged: true },
    // Newer systemd (v258+): property dictionaries instead of positional arguments.
    { name: 'CreateMachineEx', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'properties', type: 'a(sv)', direction: 'in' }, { name: 'scope_properties', type: 'a(sv)', direction: 'in' }, { name: 'path', type: 'o', direction: 'out' }], privileged: true },
    { name: 'RegisterMachineEx', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'properties', type: 'a(sv)', direction: 'in' }, { name: 'path', type: 'o', direction: 'out' }], privileged: true },
    { name: 'UnregisterMachine', args: [{ name: 'name', type: 's', direction: 'in' }] },
    { name: 'TerminateMachine', args: [{ name: 'id', type: 's', direction: 'in' }] },
    { name: 'KillMachine', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'who', type: 's', direction: 'in' }, { name: 'signal', type: 'i', direction: 'in' }] },
    { name: 'GetMachineAddresses', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'addresses', type: 'a(iay)', direction: 'out' }] },
    { name: 'GetMachineOSRelease', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'fields', type: 'a{ss}', direction: 'out' }] },
    { name: 'OpenMachinePTY', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'pty', type: 'h', direction: 'out' }, { name: 'pty_path', type: 's', direction: 'out' }], privileged: true },
    { name: 'OpenMachineLogin', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'pty', type: 'h', direction: 'out' }, { name: 'pty_path', type: 's', direction: 'out' }] },
    { name: 'OpenMachineShell', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'user', type: 's', direction: 'in' }, { name: 'path', type: 's', direction: 'in' }, { name: 'args', type: 'as', direction: 'in' }, { name: 'environment', type: 'as', direction: 'in' }, { name: 'pty', type: 'h', direction: 'out' }, { name: 'pty_path', type: 's', direction: 'out' }] },
    { name: 'BindMountMachine', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'source', type: 's', direction: 'in' }, { name: 'destination', type: 's', direction: 'in' }, { name: 'read_only', type: 'b', direction: 'in' }, { name: 'mkdir', type: 'b', direction: 'in' }] },
    { name: 'CopyFromMachine', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'source', type: 's', direction: 'in' }, { name: 'destination', type: 's', direction: 'in' }] },
    { name: 'CopyToMachine', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'source', type: 's', direction: 'in' }, { name: 'destination', type: 's', direction: 'in' }] },
    { name: 'CopyFromMachineWithFlags', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'source', type: 's', direction: 'in' }, { name: 'destination', type: 's', direction: 'in' }, { name: 'flags', type: 't', direction: 'in' }] },
    { name: 'CopyToMachineWithFlags', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'source', type: 's', direction: 'in' }, { name: 'destination', type: 's', direction: 'in' }, { name: 'flags', type: 't', direction: 'in' }] },
    { name: 'OpenMachineRootDirectory', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'fd', type: 'h', direction: 'out' }] },
    { name: 'GetMachineUIDShift', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'shift', type: 'u', direction: 'out' }] },
    { name: 'RemoveImage', args: [{ name: 'name', type: 's', direction: 'in' }] },
    { name: 'RenameImage', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'new_name', type: 's', direction: 'in' }] },
    { name: 'CloneImage', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'new_name', type: 's', direction: 'in' }, { name: 'read_only', type: 'b', direction: 'in' }] },
    { name: 'MarkImageReadOnly', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'read_only', type: 'b', direction: 'in' }] },
    { name: 'GetImageHostname', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'hostname', type: 's', direction: 'out' }] },
    { name: 'GetImageMachineID', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'id', type: 'ay', direction: 'out' }] },
    { name: 'GetImageMachineInfo', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'machine_info', type: 'a{ss}', direction: 'out' }] },
    { name: 'GetImageOSRelease', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'os_release', type: 'a{ss}', direction: 'out' }] },
    { name: 'SetPoolLimit', args: [{ name: 'size', type: 't', direction: 'in' }] },
    { name: 'SetImageLimit', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'size', type: 't', direction: 'in' }] },
    { name: 'CleanPool', args: [{ name: 'mode', type: 's', direction: 'in' }, { name: 'images', type: 'a(st)', direction: 'out' }] },
    { name: 'MapFromMachineUser', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'uid_inner', type: 'u', direction: 'in' }, { name: 'uid_outer', type: 'u', direction: 'out' }] },
    { name: 'MapToMachineUser', args: [{ name: 'uid_outer', type: 'u', direction: 'in' }, { name: 'machine_name', type: 's', direction: 'out' }, { name: 'machine_path', type: 'o', direction: 'out' }, { name: 'uid_inner', type: 'u', direction: 'out' }] },
    { name: 'MapFromMachineGroup', args: [{ name: 'name', type: 's', direction: 'in' }, { name: 'gid_inner', type: 'u', direction: 'in' }, { name: 'gid_outer', type: 'u', direction: 'out' }] },
    { name: 'MapToMachineGroup', args: [{ name: 'gid_outer', type: 'u', direction: 'in' }, { name: 'machine_name', type: 's', direction: 'out' }, { name: 'machine_path', type: 'o', direction: 'out' }, { name: 'gid_inner', type: 'u', direction: 'out' }] },
  ],
  properties: [
    { name: 'PoolPath', type: 's', emitsChange: 'false' },
    { name: 'PoolUsage', type: 't', emitsChange: 'false' },
    { name: 'PoolLimit', type: 't', emitsChange: 'false' },
  ],
  signals: [
    { name: 'MachineNew', args: [{ name: 'machine', type: 's' }, { name: 'path', type: 'o' }] },
    { name: 'MachineRemoved', args: [{ name: 'machine', type: 's' }, { name: 'path', type: 'o' }] },
  ],
} as const satisfies InterfaceDescription

export const MACHINE_INTERFACE = {
  name: 'org.freedesktop.machine1.Machine',
  methods: [
    { name: 'Terminate', args: [] },
    { name: 'Kill', args: [{ name: 'who', type: 's', direction: 'in' }, { name: 'signal', type: 'i', direction: 'in' }] },
    { name: 'GetAddresses', args: [{ name: 'addresses', type: 'a(iay)', direction: 'out' }] },
    { name: 'GetOSRelease', args: [{ name: 'fields', type: 'a{ss}', direction: 'out' }] },
    { name: 'GetUIDShift', args: [{ name: 'shift', type: 'u', direction: 'out' }] },
    { name: 'OpenPTY', args: [{ name: 'pty', type: 'h', direction: 'out' }, { name: 'pty_path', type: 's', direction: 'out' }] },
    { name: 'OpenLogin', args: [{ name: 'pty', type: 'h', direction: 'out' }, { name: 'pty_path', type: 's', direction: 'out' }] },
    { name: 'OpenShell', args: [{ name: 'user', type: 's', direction: 'in' }, { name: 'path', type: 's', direction: 'in' }, { name: 'args', type: 'as', direction: 'in' }, { name: 'environment', type: 'as', direction: 'in' }, { name: 'pty', type: 'h', direction: 'out' }, { name: 'pty_path', type: 's', direction: 'out' }] },
    { name: 'BindMount', args: [{ name: 'source', type: 's', direction: 'in' }, { name: 'destination', type: 's', direction: 'in' }, { name: 'read_only', type: 'b', direction: 'in' }, { name: 'mkdir', type: 'b', direction: 'in' }] },
    { name: 'CopyFrom', args: [{ name: 'source', type: 's', direction: 'in' }, { name: 'destination', type: 's', direction: 'in' }] },
    { name: 'CopyTo', args: [{ name: 'source', type: 's', direction: 'in' }, { name: 'destination', type: 's', direction: 'in' }] },
    { name: 'CopyFromWithFlags', args: [{ name: 'source', type: 's', direction: 'in' }, { name: 'destination', type: 's', direction: 'in' }, { name: 'flags', type: 't', direction: 'in' }] },
    { name: 'CopyToWithFlags', args: [{ name: 'source', type: 's', direction: 'in' }, { name: 'destination', type: 's', direction: 'in' }, { name: 'flags', type: 't', direction: 'in' }] },
    { name: 'OpenRootDirectory', args: [{ name: 'fd', type: 'h', direction: 'out' }] },
  ],
  properties: [
    { name: 'Name', type: 's', emitsChange: 'const' },
    { name: 'Id', type: 'ay', emitsChange: 'const' },
    { name: 'Timestamp', type: 't', emitsChange: 'const' },
    { name: 'TimestampMonotonic', type: 't', emitsChange: 'const' },
    { name: 'Service', type: 's', emitsChange: 'const' },
    { name: 'Unit', type: 's', emitsChange: 'const' },
    { name: 'Leader', type: 'u', emitsChange: 'const' },
    { name: 'Class', type: 's', emitsChange: 'const' },
    { name: 'RootDirectory', type: 's', emitsChange: 'const' },
    { name: 'NetworkInterfaces', type: 'ai', emitsChange: 'const' },
    { name: 'State', type: 's', emitsChange: 'false' },
  ],
  signals: [
  ],
} as const satisfies InterfaceDescription

/** org.freedesktop.machine1.Image (image-dbus.c): its properties emit no change signals, its methods name no arguments. */
export const IMAGE_INTERFACE = {
  name: IMAGE_INTERFACE_NAME,
  methods: [
    { name: 'Remove', args: [] },
    { name: 'Rename', args: [{ type: 's', direction: 'in' }] },
    { name: 'Clone', args: [{ type: 's', direction: 'in' }, { type: 'b', direction: 'in' }] },
    { name: 'MarkReadOnly', args: [{ type: 'b', direction: 'in' }] },
    { name: 'SetLimit', args: [{ type: 't', direction: 'in' }] },
    { name: 'GetHostname', args: [{ type: 's', direction: 'out' }] },
    { name: 'GetMachineID', args: [{ type: 'ay', direction: 'out' }] },
    { name: 'GetMachineInfo', args: [{ type: 'a{ss}', direction: 'out' }] },
    { name: 'GetOSRelease', args: [{ type: 'a{ss}', direction: 'out' }] },
  ],
  properties: [
    { name: 'Name', type: 's', emitsChange: 'false' },
    { name: 'Path', type: 's', emitsChange: 'false' },
    { name: 'Type', type: 's', emitsChange: 'false' },
    { name: 'ReadOnly', type: 'b', emitsChange: 'false' },
    { name: 'CreationTimestamp', type: 't', emitsChange: 'false' },
    { name: 'ModificationTimestamp', type: 't', emitsChange: 'false' },
    { name: 'Usage', type: 't', emitsChange: 'false' },
    { name: 'Limit', type: 't', emitsChange: 'false' },
    { name: 'UsageExclusive', type: 't', emitsChange: 'false' },
    { name: 'LimitExclusive', type: 't', emitsChange: 'false' },
  ],
  signals: [],
} as const satisfies InterfaceDescription
