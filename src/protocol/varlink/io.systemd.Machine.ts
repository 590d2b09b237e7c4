/**
 * The io.systemd.Machine Varlink contract, as newest systemd declares it in
 * its src/shared/varlink-io.systemd.Machine.c: every type, method and error in
 * declaration order, with systemd's field comments. The server validates
 * calls against these descriptors and serves their IDL text; the socket
 * lives at /run/systemd/machine/io.systemd.Machine.
 * @module
 */

import type { VarlinkField, VarlinkInterface } from './idl.ts'

export const MACHINE_INTERFACE_NAME = 'io.systemd.Machine'
export const MACHINE_SOCKET_PATH = '/run/systemd/machine/io.systemd.Machine'

/** Error names (machine-varlink.h, VARLINK_ERROR_MACHINE_*). */
export const MACHINE_ERRORS = {
  NO_SUCH_MACHINE: 'io.systemd.Machine.NoSuchMachine',
  MACHINE_EXISTS: 'io.systemd.Machine.MachineExists',
  NO_PRIVATE_NETWORKING: 'io.systemd.Machine.NoPrivateNetworking',
  NO_OS_RELEASE_INFORMATION: 'io.systemd.Machine.NoOSReleaseInformation',
  NO_UID_SHIFT: 'io.systemd.Machine.NoUIDShift',
  NOT_AVAILABLE: 'io.systemd.Machine.NotAvailable',
  NOT_SUPPORTED: 'io.systemd.Machine.NotSupported',
  NO_IPC: 'io.systemd.Machine.NoIPC',
  NO_SUCH_USER: 'io.systemd.Machine.NoSuchUser',
  NO_SUCH_GROUP: 'io.systemd.Machine.NoSuchGroup',
  USER_IN_HOST_RANGE: 'io.systemd.Machine.UserInHostRange',
  GROUP_IN_HOST_RANGE: 'io.systemd.Machine.GroupInHostRange',
  // In the header but not declared in the IDL.
  TOO_MANY_OPERATIONS: 'io.systemd.Machine.TooManyOperations',
} as const

const opt = (name: string, type: string, comment?: string): VarlinkField =>
  comment === undefined ? { name, type, nullable: true } : { name, type, nullable: true, comment }

/**
 * The fields every per-machine method uses to find its machine
 * (VARLINK_DISPATCH_MACHINE_LOOKUP_FIELDS). `pid` is dispatched by
 * json_dispatch_pidref(), which also takes a plain integer (or its
 * string): what clients of systemd 256/257 send, whose IDL still declared
 * `pid: int` (systemd's TEST-13 calls `List {"pid": N}`).
 */
const LOOKUP: readonly VarlinkField[] = [
  opt('name', 'string', 'If non-null the name of a machine.'),
  { ...opt('pid', 'ProcessId', 'If non-null the PID of a machine. Special value 0 means to take pid of the machine the caller is part of.'), alsoAccepts: 'int' },
  opt('allowInteractiveAuthentication', 'bool', 'Controls whether interactive authentication (via polkit) shall be allowed. If unspecified defaults to false.'),
]

export const MACHINE_INTERFACE = {
  name: MACHINE_INTERFACE_NAME,
  symbols: [
    {
      kind: 'struct', name: 'ProcessId', comment: 'An object for referencing UNIX processes',
      fields: [
        { name: 'pid', type: 'int', comment: 'Numeric UNIX PID value' },
        opt('pidfdId', 'int', '64bit inode number of pidfd if known'),
        // systemd declares an int but sends and accepts a 128-bit id as 32 hex digits;
        // its validator lets strings pass for int, so both work.
        opt('bootId', 'int', 'Boot ID of the system the inode number belongs to'),
      ],
    },
    {
      kind: 'struct', name: 'Timestamp', comment: 'A timestamp object consisting of both CLOCK_REALTIME and CLOCK_MONOTONIC timestamps',
      fields: [
        opt('realtime', 'int', 'Timestamp in µs in the CLOCK_REALTIME clock (wallclock)'),
        opt('monotonic', 'int', 'Timestamp in µs in the CLOCK_MONOTONIC clock'),
      ],
    },
    {
      kind: 'enum', name: 'AcquireMetadata', comment: 'A enum field allowing to gracefully get metadata',
      values: [
        { name: 'no', comment: 'Do not include metadata in the output' },
        { name: 'yes', comment: 'Include metadata in the output' },
        { name: 'graceful', comment: 'Include metadata in the output, but gracefully eat up errors' },
      ],
    },
    {
      kind: 'struct', name: 'Address', comment: 'An address object',
      fields: [opt('ifindex', 'int'), { name: 'family', type: 'int' }, { name: 'address', type: 'int', array: true }],
    },
    {
      kind: 'method', name: 'Register',
      input: [
        { name: 'name', type: 'string' },
        opt('id', 'string'),
        opt('service', 'string'),
        { name: 'class', type: 'string' },
        opt('leader', 'int', 'The leader PID as simple positive integer.'),
        opt('leaderProcessId', 'ProcessId', 'The leader PID as ProcessId structure. If both the leader and leaderProcessId parameters are specified they must reference the same process. Typically one would only specify one or the other however. It\'s generally recommended to specify leaderProcessId as it references a process in a robust way without risk of identifier recycling.'),
        opt('rootDirectory', 'string'),
        { name: 'ifIndices', type: 'int', nullable: true, array: true },
        opt('vSockCid', 'int'),
        opt('sshAddress', 'string'),
        opt('sshPrivateKeyPath', 'string'),
        opt('allocateUnit', 'bool', 'Controls whether to allocate a scope unit for the machine to register. If false, the client already took care of that and registered a service/scope specific to the machine.'),
        opt('allowInteractiveAuthentication', 'bool', 'Controls whether interactive authentication (via polkit) shall be allowed. If unspecified defaults to false.'),
      ],
      output: [],
    },
    { kind: 'method', name: 'Unregister', input: LOOKUP, output: [] },
    { kind: 'method', name: 'Terminate', comment: 'Terminate machine, killing its processes', input: LOOKUP, output: [] },
    {
      kind: 'method', name: 'Kill', comment: 'Send a UNIX signal to the machine\'s processes',
      input: [
        ...LOOKUP,
        opt('whom', 'string', 'Identifier that specifies what precisely to send the signal to (either \'leader\' or \'all\').'),
        { name: 'signal', type: 'int', comment: 'Numeric UNIX signal integer.' },
      ],
      output: [],
    },
    {
      kind: 'method', name: 'List', comment: 'List running machines', more: 'supports',
      input: [
        ...LOOKUP,
        opt('acquireMetadata', 'AcquireMetadata', 'If \'yes\' the output will include machine metadata fields such as \'Addresses\', \'OSRelease\', and \'UIDShift\'. If \'graceful\' it\'s equal to true but gracefully eats up errors'),
      ],
      output: [
        { name: 'name', type: 'string', comment: 'Name of the machine' },
        opt('id', 'string', '128bit ID identifying this machine, formatted in hexadecimal'),
        opt('service', 'string', 'Name of the software that registered this machine'),
        { name: 'class', type: 'string', comment: 'The class of this machine' },
        opt('leader', 'ProcessId', 'Leader process PID of this machine'),
        opt('rootDirectory', 'string', 'Root directory of this machine, if known, relative to host file system'),
        opt('unit', 'string', 'The service manager unit this machine resides in'),
        opt('timestamp', 'Timestamp', 'Timestamp when the machine was activated'),
        opt('vSockCid', 'int', 'AF_VSOCK CID of the machine if known and applicable'),
        opt('sshAddress', 'string', 'SSH address to connect to'),
        opt('sshPrivateKeyPath', 'string', 'Path to private SSH key'),
        { name: 'addresses', type: 'Address', nullable: true, array: true, comment: 'List of addresses of the machine' },
        { name: 'OSRelease', type: 'string', nullable: true, array: true, comment: 'OS release information of the machine. It contains an array of key value pairs read from the os-release(5) file in the image.' },
        opt('UIDShift', 'int', 'Return the base UID/GID of the machine'),
      ],
    },
    {
      kind: 'enum', name: 'MachineOpenMode', comment: 'A enum field which defines way to open TTY for a machine',
      values: [
        { name: 'tty', comment: 'Only allocate a pseudo TTY in the machine' },
        { name: 'login', comment: 'Allocate a pseudo TTY and start a login prompt on it' },
        { name: 'shell', comment: 'Allocate a pseudo TTY and start a shell for a user on it' },
      ],
    },
    {
      kind: 'method', name: 'Open', comment: 'Allocates a pseudo TTY in the container in various modes',
      input: [
        ...LOOKUP,
        { name: 'mode', type: 'MachineOpenMode' },
        opt('user', 'string'),
        opt('path', 'string'),
        { name: 'args', type: 'string', nullable: true, array: true },
        { name: 'environment', type: 'string', nullable: true, array: true },
      ],
      output: [{ name: 'ptyFileDescriptor', type: 'int' }, { name: 'ptyPath', type: 'string' }],
    },
    {
      kind: 'method', name: 'MapFrom', comment: 'Maps given machine\'s UID/GID to host\'s UID/GID',
      input: [...LOOKUP, opt('uid', 'int'), opt('gid', 'int')],
      output: [opt('uid', 'int'), opt('gid', 'int')],
    },
    {
      kind: 'method', name: 'MapTo', comment: 'Maps given host\'s UID/GID to a machine and corresponding UID/GID',
      input: [opt('uid', 'int'), opt('gid', 'int')],
      output: [opt('uid', 'int'), opt('gid', 'int'), opt('machineName', 'string')],
    },
    {
      kind: 'method', name: 'BindMount', comment: 'Bind mounts a file or directory from the host into the container',
      input: [...LOOKUP, { name: 'source', type: 'string' }, opt('destination', 'string'), opt('readOnly', 'bool'), opt('mkdir', 'bool')],
      output: [],
    },
    {
      kind: 'method', name: 'CopyFrom', comment: 'Copy files or directories from a container into the host',
      input: [...LOOKUP, { name: 'source', type: 'string' }, opt('destination', 'string'), opt('replace', 'bool')],
      output: [],
    },
    {
      kind: 'method', name: 'CopyTo', comment: 'Copy files or directories from the host into a container',
      input: [...LOOKUP, { name: 'source', type: 'string' }, opt('destination', 'string'), opt('replace', 'bool')],
      output: [],
    },
    {
      kind: 'method', name: 'OpenRootDirectory', comment: 'Opens machine\'s root directory',
      input: LOOKUP,
      output: [{ name: 'fileDescriptor', type: 'int' }],
    },
    { kind: 'error', name: 'NoSuchMachine', comment: 'No matching machine currently running', fields: [] },
    { kind: 'error', name: 'MachineExists', fields: [] },
    { kind: 'error', name: 'NoPrivateNetworking', comment: 'Machine does not use private networking', fields: [] },
    { kind: 'error', name: 'NoOSReleaseInformation', comment: 'Machine does not contain OS release information', fields: [] },
    { kind: 'error', name: 'NoUIDShift', comment: 'Machine uses a complex UID/GID mapping, cannot determine shift', fields: [] },
    { kind: 'error', name: 'NotAvailable', comment: 'Requested information is not available', fields: [] },
    { kind: 'error', name: 'NotSupported', comment: 'Requested operation is not supported', fields: [] },
    { kind: 'error', name: 'NoIPC', comment: 'There is no IPC service (such as system bus or varlink) in the container', fields: [] },
    { kind: 'error', name: 'NoSuchUser', comment: 'No such user', fields: [] },
    { kind: 'error', name: 'NoSuchGroup', comment: 'No such group', fields: [] },
    { kind: 'error', name: 'UserInHostRange', comment: 'User belongs to host UID range', fields: [] },
    { kind: 'error', name: 'GroupInHostRange', comment: 'Group belongs to host GID range', fields: [] },
  ],
} as const satisfies VarlinkInterface
