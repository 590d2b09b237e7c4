/**
 * The io.systemd.Import Varlink contract, as newest systemd declares it in
 * src/shared/varlink-io.systemd.Import.c (systemd-importd serves it on
 * /run/systemd/io.systemd.Import): every type, method and error in
 * declaration order, with systemd's comments, typos included (the IDL
 * text is what clients introspect). systemd 252 has no such interface.
 * @module
 */

import type { VarlinkField, VarlinkInterface } from './idl.ts'

export const IMPORT_INTERFACE_NAME = 'io.systemd.Import'
export const IMPORT_SOCKET_PATH = '/run/systemd/io.systemd.Import'

export const IMPORT_ERRORS = {
  ALREADY_IN_PROGRESS: 'io.systemd.Import.AlreadyInProgress',
  TRANSFER_CANCELLED: 'io.systemd.Import.TransferCancelled',
  TRANSFER_FAILED: 'io.systemd.Import.TransferFailed',
  NO_TRANSFERS: 'io.systemd.Import.NoTransfers',
} as const

const opt = (name: string, type: string, comment: string): VarlinkField => ({ name, type, nullable: true, comment })

export const IMPORT_INTERFACE = {
  name: IMPORT_INTERFACE_NAME,
  symbols: [
    {
      kind: 'enum', name: 'ImageClass', comment: 'Describes the class of images',
      values: [
        { name: 'machine', comment: 'An image to boot as a system on baremetal, in a VM or as a container' },
        { name: 'portable', comment: 'An portable service image' },
        { name: 'sysext', comment: 'A system extension image' },
        { name: 'confext', comment: 'A configuration extension image' },
      ],
    },
    {
      kind: 'enum', name: 'RemoteType', comment: 'Describes the type of a images to transfer',
      values: [
        { name: 'raw', comment: 'Raw binary disk images, typically in a GPT envelope' },
        { name: 'tar', comment: 'A tarball, optionally compressed' },
      ],
    },
    {
      kind: 'enum', name: 'TransferType', comment: 'Describes the type of a transfer',
      values: [
        { name: 'import_tar', comment: 'A local import of a tarball' },
        { name: 'import_raw', comment: 'A local import of a raw disk image' },
        { name: 'import_fs', comment: 'A local import of a file system tree' },
        { name: 'export_tar', comment: 'A local export of a tarball' },
        { name: 'export_raw', comment: 'A local export of a raw disk image' },
        { name: 'pull_tar', comment: 'A download of a tarball' },
        { name: 'pull_raw', comment: 'A download of a raw disk image' },
      ],
    },
    {
      kind: 'enum', name: 'ImageVerify', comment: 'Describes whether and how thoroughly to verify the download before installing it locally',
      values: [
        { name: 'no', comment: 'No verification' },
        { name: 'checksum', comment: 'Verify that downloads match checksum file (SHA256SUMS), but do not check signature of checksum file' },
        { name: 'signature', comment: 'Verify that downloads match checksum file (SHA256SUMS), and check signature of checksum file.' },
      ],
    },
    {
      kind: 'struct', name: 'LogMessage', comment: 'Structure for log messages associated with a transfer operation',
      fields: [
        { name: 'message', type: 'string', comment: 'The log message' },
        { name: 'priority', type: 'int', comment: 'The priority of the log message, using the BSD syslog priority levels' },
      ],
    },
    {
      kind: 'method', name: 'ListTransfers', comment: 'List ongoing transfers, or query details about specific transfers', more: 'requires',
      input: [opt('class', 'ImageClass', 'Image class to filter by')],
      output: [
        { name: 'id', type: 'int', comment: 'A unique numeric identifier for the ongoing transfer' },
        { name: 'type', type: 'TransferType', comment: 'The type of transfer' },
        { name: 'remote', type: 'string', comment: 'The remote URL' },
        { name: 'local', type: 'string', comment: 'The local image name' },
        { name: 'class', type: 'ImageClass', comment: 'The class of the image' },
        { name: 'percent', type: 'float', comment: 'Progress in percent' },
      ],
    },
    {
      kind: 'method', name: 'Pull',
      comment: 'Download a .tar or .raw file. This must be called with the \'more\' flag enabled. It will immediately return the numeric ID of the transfer, and then follow up with progress and log message updates, until the transfer is complete.',
      more: 'supports',
      input: [
        { name: 'remote', type: 'string', comment: 'The remote URL to download from' },
        opt('local', 'string', 'The local image name to download to'),
        { name: 'type', type: 'RemoteType', comment: 'The type of the resource' },
        { name: 'class', type: 'ImageClass', comment: 'The image class' },
        opt('verify', 'ImageVerify', 'The whether and how thoroughly to verify the download before installing it locally. Defaults to \'signature\'.'),
        opt('force', 'bool', 'If true, an existing image by the local name is deleted. Defaults to false.'),
        opt('readOnly', 'bool', 'Whether to make the image read-only after downloading. Defaults ot false.'),
        opt('keepDownload', 'bool', 'Whether to keep a pristine copy of the download separate from the locally installed image. Defaults to false.'),
        opt('allowInteractiveAuthentication', 'bool', 'Controls whether interactive authentication (via polkit) shall be allowed. If unspecified defaults to false.'),
      ],
      output: [
        opt('progress', 'float', 'A progress update, as percent value'),
        opt('log', 'LogMessage', 'A log message about the ongoing transfer'),
        opt('id', 'int', 'The numeric ID of this download'),
      ],
    },
    { kind: 'error', name: 'AlreadyInProgress', comment: 'A transfer for the specified file is already ongoing', fields: [] },
    { kind: 'error', name: 'TransferCancelled', comment: 'The transfer has been cancelled on user request', fields: [] },
    { kind: 'error', name: 'TransferFailed', comment: 'The transfer failed', fields: [] },
    { kind: 'error', name: 'NoTransfers', comment: 'No currently ongoing transfer', fields: [] },
  ],
} as const satisfies VarlinkInterface
