/**
 * A Machine and what it carries beyond systemd 252's fields, to and from
 * the state-file record (machine_save() / machine_load()). The codec is in
 * state-file.ts; this file only maps fields.
 * @module
 */

import { ownString } from '../protocol/own-string.ts'
import { idFromString, Machine, NULL_ID } from './machine.ts'
import type { ProcessRef } from './ports.ts'
import type { MachineStateRecord } from './state-file.ts'

/** Extra fields a machine carries beyond systemd 252's state file. */
export interface MachineExtras {
  readonly vsockCid: number | undefined
  readonly sshAddress: string | undefined
  readonly sshPrivateKeyPath: string | undefined
  /** The pool image it runs from (ImageName, ImagePath: ours; systemd#10360). */
  readonly imageName?: string | undefined
  readonly imagePath?: string | undefined
}

export const NO_EXTRAS: MachineExtras = { vsockCid: undefined, sshAddress: undefined, sshPrivateKeyPath: undefined }

/** `extras`, or the one shared NO_EXTRAS when it carries nothing (most machines: no object of their own). */
export function extrasOf(extras: MachineExtras): MachineExtras {
  return extras.vsockCid === undefined && extras.sshAddress === undefined && extras.sshPrivateKeyPath === undefined &&
    extras.imageName === undefined && extras.imagePath === undefined
    ? NO_EXTRAS
    : extras
}

export function machineToRecord(machine: Machine, extras: MachineExtras): MachineStateRecord {
  return {
    name: machine.name,
    unit: machine.unit?.unit,
    service: machine.service,
    rootDirectory: machine.rootDirectory,
    id: machine.idString === '' ? undefined : machine.idString,
    leader: machine.leader.pid,
    leaderPidfdId: machine.leader.pidfdId,
    class: machine.class,
    realtime: machine.timestamp.realtime,
    monotonic: machine.timestamp.monotonic,
    netifs: [...machine.netifs],
    vsockCid: extras.vsockCid,
    sshAddress: extras.sshAddress,
    sshPrivateKeyPath: extras.sshPrivateKeyPath,
    ...(extras.imageName === undefined ? {} : { imageName: extras.imageName }),
    ...(extras.imagePath === undefined ? {} : { imagePath: extras.imagePath }),
    leaderStartTime: machine.leader.startTime,
    uid: machine.ownerUid,
    ...(machine.state === 'closing' ? { stopping: true } : {}),
  }
}

/** A machine reloaded from its record, led by `leader` (already checked to be the recorded process). */
export function machineFromRecord(s: MachineStateRecord, leader: ProcessRef): { machine: Machine; extras: MachineExtras } {
  // The strings are cut from the file's text: own copies, so the text does not live as long as the machine.
  const own = (v: string | undefined): string | undefined => (v === undefined ? undefined : ownString(v))
  const machine = new Machine({
    name: ownString(s.name), id: s.id === undefined ? NULL_ID : idFromString(s.id) ?? NULL_ID, service: own(s.service) ?? '',
    class: s.class, leader, rootDirectory: own(s.rootDirectory) ?? '', netifs: s.netifs,
    timestamp: { realtime: s.realtime ?? 0n, monotonic: s.monotonic ?? 0n }, ownerUid: s.uid ?? 0,
  })
  return {
    machine,
    extras: {
      vsockCid: s.vsockCid, sshAddress: own(s.sshAddress), sshPrivateKeyPath: own(s.sshPrivateKeyPath),
      imageName: own(s.imageName), imagePath: own(s.imagePath),
    },
  }
}
