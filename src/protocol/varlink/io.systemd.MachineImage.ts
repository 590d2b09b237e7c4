/**
 * The io.systemd.MachineImage Varlink contract, as newest systemd declares
 * it in src/shared/varlink-io.systemd.MachineImage.c: every type, method
 * and error in declaration order, with systemd's comments (typos
 * included: the IDL text is what clients introspect). systemd-machined
 * serves it on its own socket and on the io.systemd.Machine socket.
 * @module
 */

import type { VarlinkField, VarlinkInterface } from './idl.ts'

export const MACHINE_IMAGE_INTERFACE_NAME = 'io.systemd.MachineImage'
export const MACHINE_IMAGE_SOCKET_PATH = '/run/systemd/machine/io.systemd.MachineImage'

/** Error names (image-varlink.h, VARLINK_ERROR_MACHINE_IMAGE_*). */
export const MACHINE_IMAGE_ERRORS = {
  NO_SUCH_IMAGE: 'io.systemd.MachineImage.NoSuchImage',
  TOO_MANY_OPERATIONS: 'io.systemd.MachineImage.TooManyOperations',
  NOT_SUPPORTED: 'io.systemd.MachineImage.NotSupported',
} as const

const opt = (name: string, type: string, comment: string): VarlinkField => ({ name, type, nullable: true, comment })

/** VARLINK_DEFINE_POLKIT_INPUT. */
const POLKIT = opt('allowInteractiveAuthentication', 'bool', 'Controls whether interactive authentication (via polkit) shall be allowed. If unspecified defaults to false.')

/** VARLINK_DEFINE_IMAGE_LOOKUP_AND_POLKIT_FIELDS. */
const LOOKUP: readonly VarlinkField[] = [{ name: 'name', type: 'string', comment: 'The name of an image' }, POLKIT]

export const MACHINE_IMAGE_INTERFACE = {
  name: MACHINE_IMAGE_INTERFACE_NAME,
  symbols: [
    {
      kind: 'enum', name: 'AcquireMetadata', comment: 'A enum field allowing to gracefully get metadata',
      values: [
        { name: 'no', comment: 'Do not include metadata in the output' },
        { name: 'yes', comment: 'Include metadata in the output' },
        { name: 'graceful', comment: 'Include metadata in the output, but gracefully eat up errors' },
      ],
    },
    {
      kind: 'method', name: 'List', comment: 'List images', more: 'supports',
      input: [
        opt('name', 'string', 'If non-null the name of a image to report details on.'),
        opt('acquireMetadata', 'AcquireMetadata', 'If true the output will include image metadata fields such as \'machineInfo\' and \'OSRelease\'.'),
        POLKIT,
      ],
      output: [
        { name: 'name', type: 'string', comment: 'Name of the image' },
        opt('path', 'string', 'The file system path where image is stored'),
        { name: 'type', type: 'string', comment: 'The type of this image' },
        { name: 'class', type: 'string', comment: 'The class of this image' },
        { name: 'readOnly', type: 'bool', comment: 'Whether the image is read-only' },
        opt('creationTimestamp', 'int', 'The image creation timestamp'),
        opt('modificationTimestamp', 'int', 'The image creation timestamp'),
        opt('usage', 'int', 'The image creation timestamp'),
        opt('usageExclusive', 'int', 'The image disk usage (exclusive)'),
        opt('limit', 'int', 'The image disk usage (exclusive)'),
        opt('limitExclusive', 'int', 'The image disk usage limit (exclusive)'),
        opt('hostname', 'string', 'The hostname of the image'),
        opt('machineId', 'string', 'The machine ID of the image'),
        { name: 'machineInfo', type: 'string', nullable: true, array: true, comment: 'Machine info information of an image. It contains an array of key value pairs read from the machine-info(5) file in the image.' },
        { name: 'OSRelease', type: 'string', nullable: true, array: true, comment: 'OS release information of an image. It contains an array of key value pairs read from the os-release(5) file in the image.' },
      ],
    },
    {
      kind: 'method', name: 'Update', comment: 'Update image allowing to rename, toggle read-only flag, or set a limit',
      input: [
        ...LOOKUP,
        opt('newName', 'string', 'If non-null the new name of the image'),
        opt('readOnly', 'bool', 'If non-null value of the read-only flag of the image'),
        opt('limit', 'int', 'If non-null value of image quota limit'),
      ],
      output: [],
    },
    {
      kind: 'method', name: 'Clone', comment: 'Clone image',
      input: [
        ...LOOKUP,
        { name: 'newName', type: 'string', comment: 'The new name of the image' },
        opt('readOnly', 'bool', 'If non-null value of the read-only flag of the image'),
      ],
      output: [],
    },
    { kind: 'method', name: 'Remove', comment: 'Remove image', input: LOOKUP, output: [] },
    {
      kind: 'method', name: 'SetPoolLimit', comment: 'Sets an overall quota limit on the pool of images',
      input: [POLKIT, { name: 'limit', type: 'int', comment: 'New image quota limit' }],
      output: [],
    },
    {
      kind: 'enum', name: 'CleanPoolMode', comment: 'A enum field allowing to control what type of images are cleaned up',
      values: [
        { name: 'all', comment: 'Remove all unused images' },
        { name: 'hidden', comment: 'Remove only hidden images' },
      ],
    },
    {
      kind: 'method', name: 'CleanPool', comment: 'Clean unused images depending on the specified mode. Note that it does not process vendon and host images.',
      more: 'requires',
      input: [POLKIT, { name: 'mode', type: 'CleanPoolMode', comment: 'Allows removing all or only hidden images' }],
      output: [
        { name: 'name', type: 'string', comment: 'Image name' },
        opt('usageExclusive', 'int', 'The image disk usage (exclusive)'),
      ],
    },
    { kind: 'error', name: 'NoSuchImage', comment: 'No matching image exists', fields: [] },
    { kind: 'error', name: 'TooManyOperations', comment: 'Too many ongoing background operations', fields: [] },
    { kind: 'error', name: 'NotSupported', comment: 'Requested operation is not supported', fields: [] },
  ],
} as const satisfies VarlinkInterface
