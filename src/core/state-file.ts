/**
 * The state file codec: /run/systemd/machines/<name> exactly as
 * machine_save() writes it (test/fixtures/machined-252/state-file-example), and a
 * tolerant reader in the spirit of machine_load(): unknown keys are
 * ignored, unparsable values are skipped with a warning, a file naming a
 * different machine is refused.
 * @module
 */

import type { MachineClass } from '../protocol/vocabulary.ts'
import { machineClassFromString } from '../protocol/vocabulary.ts'
import { cescape, parseEnvFile } from './env-file.ts'

export const STATE_FILE_HEADER = '# This is private data. Do not parse.\n'

export interface MachineStateRecord {
  name: string
  /** SCOPE= (systemd keeps the old key name for compatibility). */
  unit: string | undefined
  service: string | undefined
  rootDirectory: string | undefined
  /** 32 hex digits; undefined for the null id. */
  id: string | undefined
  leader: number | undefined
  /**
   * LEADER_PIDFDID= (newer systemd): the inode number of the leader's
   * pidfd, which a recycled PID cannot match.
   */
  leaderPidfdId?: number | undefined
  class: MachineClass | undefined
  realtime: bigint | undefined
  monotonic: bigint | undefined
  netifs: number[]
  vsockCid: number | undefined
  sshAddress: string | undefined
  sshPrivateKeyPath: string | undefined
  /**
   * Start time of the leader (clock ticks since boot). systemd has no such
   * key; readers ignore unknown keys, and we use it to refuse a recycled PID.
   */
  leaderStartTime: bigint | undefined
  /** UID= (newer systemd): who registered the machine. */
  uid: number | undefined
  /**
   * STOPPING=1 (ours; systemd leaves the stop job to PID 1): TerminateMachine was
   * answered, so a daemon restarted before the machine went carries the
   * stop out instead of keeping the machine as running.
   */
  stopping?: boolean | undefined
  /**
   * IMAGE= and IMAGE_PATH= (ours): the pool image the machine runs from,
   * beside ROOT= (which for a raw or ephemeral image is only where it is
   * mounted: systemd#10360).
   */
  imageName?: string | undefined
  imagePath?: string | undefined
}

export function formatMachineState(s: MachineStateRecord): string {
  let out = `${STATE_FILE_HEADER}NAME=${s.name}\n`
  // Newer systemd writes UID= right after NAME=; 252 ignores it. Root is left out, as 252 writes it.
  if (s.uid !== undefined && s.uid !== 0) out += `UID=${s.uid}\n`
  // "We continue to call this SCOPE= because it is internal only" (machine.c).
  if (s.unit !== undefined) out += `SCOPE=${cescape(s.unit)}\n`
  if (s.service !== undefined && s.service !== '') out += `SERVICE=${cescape(s.service)}\n`
  if (s.rootDirectory !== undefined && s.rootDirectory !== '') out += `ROOT=${cescape(s.rootDirectory)}\n`
  if (s.id !== undefined) out += `ID=${s.id}\n`
  if (s.leader !== undefined && s.leader > 0) out += `LEADER=${s.leader}\n`
  if (s.class !== undefined) out += `CLASS=${s.class}\n`
  if (s.realtime !== undefined && s.monotonic !== undefined) out += `REALTIME=${s.realtime}\nMONOTONIC=${s.monotonic}\n`
  if (s.netifs.length > 0) out += `NETIF=${s.netifs.join(' ')}\n`
  if (s.vsockCid !== undefined) out += `VSOCK_CID=${s.vsockCid}\n`
  if (s.sshAddress !== undefined) out += `SSH_ADDRESS=${cescape(s.sshAddress)}\n`
  if (s.sshPrivateKeyPath !== undefined) out += `SSH_PRIVATE_KEY_PATH=${cescape(s.sshPrivateKeyPath)}\n`
  // Newer systemd writes LEADER_PIDFDID= right after LEADER=; we keep systemd 252's keys in 252's order and
  // add what 252 does not know at the end (env files are read by key, so newer systemd finds it there too).
  if (s.leader !== undefined && s.leader > 0 && s.leaderPidfdId !== undefined && s.leaderPidfdId > 0) out += `LEADER_PIDFDID=${s.leaderPidfdId}\n`
  if (s.leaderStartTime !== undefined) out += `LEADER_STARTTIME=${s.leaderStartTime}\n`
  if (s.stopping === true) out += 'STOPPING=1\n'
  if (s.imageName !== undefined) out += `IMAGE=${cescape(s.imageName)}\n`
  if (s.imagePath !== undefined) out += `IMAGE_PATH=${cescape(s.imagePath)}\n`
  return out
}

export interface ParsedMachineState {
  readonly state: MachineStateRecord
  readonly warnings: string[]
}

const UINT = /^\d+$/

/** Throws when the file is not for `expectedName`; otherwise returns what could be read. */
export function parseMachineState(text: string, expectedName: string): ParsedMachineState {
  const env = parseEnvFile(text)
  const warnings: string[] = []
  const name = env.get('NAME')
  if (name !== undefined && name !== expectedName) {
    throw new Error(`State file for machine '${expectedName}' reports a different name '${name}', refusing`)
  }
  const uint = (key: string): bigint | undefined => {
    const v = env.get(key)
    if (v === undefined || v === '') return undefined
    if (!UINT.test(v)) { warnings.push(`Failed to parse ${key}=${v}, ignoring`); return undefined }
    return BigInt(v)
  }
  const str = (key: string): string | undefined => {
    const v = env.get(key)
    return v === undefined || v === '' ? undefined : v
  }
  const leader = uint('LEADER')
  const idText = str('ID')
  let id: string | undefined
  if (idText !== undefined) {
    if (/^[0-9a-fA-F]{32}$/.test(idText)) id = idText.toLowerCase()
    else warnings.push(`Failed to parse machine ID ${idText}, ignoring`)
  }
  const classText = str('CLASS')
  const cls = classText === undefined ? undefined : machineClassFromString(classText)
  if (classText !== undefined && cls === undefined) warnings.push(`Failed to parse machine class ${classText}, ignoring`)
  const netifs: number[] = []
  for (const word of (env.get('NETIF') ?? '').split(/\s+/)) {
    if (word === '') continue
    const n = Number(word)
    if (Number.isInteger(n) && n > 0 && n <= 0x7fffffff) netifs.push(n)
    else warnings.push(`Failed to parse network interface index ${word}, ignoring`)
  }
  const cid = uint('VSOCK_CID')
  // machine_load() only warns about an unparsable LEADER_PIDFDID= and keeps the PID.
  const pidfdId = uint('LEADER_PIDFDID')
  return {
    warnings,
    state: {
      name: expectedName,
      unit: str('SCOPE'),
      service: str('SERVICE'),
      rootDirectory: str('ROOT'),
      id,
      leader: leader !== undefined && leader > 0n && leader <= 0x3fffffffn ? Number(leader) : undefined,
      class: cls,
      realtime: uint('REALTIME'),
      monotonic: uint('MONOTONIC'),
      netifs,
      vsockCid: cid !== undefined && cid <= 0xffffffffn ? Number(cid) : undefined,
      sshAddress: str('SSH_ADDRESS'),
      sshPrivateKeyPath: str('SSH_PRIVATE_KEY_PATH'),
      leaderStartTime: uint('LEADER_STARTTIME'),
      uid: ((u) => (u !== undefined && u < 0xffffffffn ? Number(u) : undefined))(uint('UID')),
      // Present only when the file has it, so records of systemd 252's files look as they always did.
      ...(pidfdId !== undefined && pidfdId > 0n && pidfdId <= BigInt(Number.MAX_SAFE_INTEGER) ? { leaderPidfdId: Number(pidfdId) } : {}),
      ...(env.get('STOPPING') === '1' ? { stopping: true } : {}),
      ...(str('IMAGE') === undefined ? {} : { imageName: str('IMAGE') }),
      ...(str('IMAGE_PATH') === undefined ? {} : { imagePath: str('IMAGE_PATH') }),
    },
  }
}
