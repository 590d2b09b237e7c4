/**
 * io.machinedts.Machines: machined-ts's own calls beside io.systemd.Machine
 * (docs/images.md, "Machines from images, as services"). systemd-machined
 * has nothing like them: `machinectl start/enable/disable` talk to systemd
 * (StartUnit/EnableUnitFiles on systemd-nspawn@NAME.service); machined-ts
 * does the same through systemd where it is PID 1 (machined-spawn@NAME or
 * machined-vmspawn@NAME), and runs the launchers itself elsewhere. Served
 * on the io.systemd.Machine socket, so the D-Bus API stays systemd 252's
 * byte for byte. Every method but Describe is root's only.
 * @module
 */

import type { VarlinkField, VarlinkInterface } from './idl.ts'

export const MACHINES_INTERFACE_NAME = 'io.machinedts.Machines'

/** Error names of this interface (the rest are io.systemd.Machine's, io.systemd.MachineImage's and the service's). */
export const MACHINES_ERRORS = {
  START_FAILED: 'io.machinedts.Machines.StartFailed',
} as const

const NAME: VarlinkField = { name: 'name', type: 'string', comment: 'The name of an image of the machine pool, which is also the name of the machine it becomes' }

export const MACHINES_INTERFACE = {
  name: MACHINES_INTERFACE_NAME,
  comment: 'Machines from images of the pool, as services of machined-ts (machinectl start, enable, disable),\nand what machined-ts knows of a machine beyond io.systemd.Machine.',
  symbols: [
    {
      kind: 'method', name: 'Start',
      comment: 'Boots the image as a container (or as a VM: a raw image with NAME.vmlinuz beside it) and returns once\nthe machine is registered. Starting a machine that already runs as such a service does nothing.',
      input: [NAME], output: [],
    },
    { kind: 'method', name: 'Enable', comment: 'Starts the machine at every start of machined-ts (or of the host, through systemd) from now on', input: [NAME], output: [] },
    { kind: 'method', name: 'Disable', comment: 'Undoes Enable; a machine that runs goes on running', input: [NAME], output: [] },
    {
      kind: 'method', name: 'Describe', comment: 'What machined-ts knows of a registered machine beyond io.systemd.Machine\'s fields',
      input: [{ name: 'name', type: 'string', comment: 'The name of a registered machine' }],
      output: [
        { name: 'imageName', type: 'string', nullable: true, comment: 'The image of the pool the machine runs from, as its launcher registered it' },
        { name: 'imagePath', type: 'string', nullable: true, comment: 'Where that image is (for a raw or ephemeral image, the machine\'s root directory is only where it is mounted)' },
        { name: 'enabled', type: 'bool', comment: 'Whether the machine of this name is started with machined-ts' },
      ],
    },
    {
      kind: 'error', name: 'StartFailed', comment: 'The machine\'s launcher failed before the machine was registered',
      fields: [{ name: 'message', type: 'string', comment: 'What happened, with the last lines the launcher wrote' }],
    },
  ],
} as const satisfies VarlinkInterface
