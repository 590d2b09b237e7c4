/**
 * io.systemd.Machine parameters → the core's requests, with the value
 * checks of systemd's dispatch tables (machine-varlink.c). Fields are
 * looked at in the order the client sent them, as sd_json_dispatch_full()
 * does, so the first bad field named matches systemd's. Types were checked
 * against the IDL already.
 * @module
 */

import type { RegisterRequest } from '../../core/register.ts'
import type { ProcessRef } from '../../core/ports.ts'
import { hostnameIsValid, machineNameIsValid } from '../../protocol/hostname.ts'
import { signalFromString } from '../../protocol/signals.ts'
import { isPlainObject } from '../../protocol/varlink/validate.ts'
import { machineClassFromString, signalIsValid } from '../../protocol/vocabulary.ts'
import { invalidParameter } from './errors.ts'
import { absolutePathValue, id128ToString, id128Value, pidValue, safeStringValue, uidValue, UINT32_MAX, unsignedValue } from './values.ts'

/** What the binding learns about processes beyond the core: pidfd inode numbers and the boot id. */
export interface ProcessIdentity {
  /** This boot's id, 32 lower-case hex digits. */
  readonly bootId: string
  /** The pidfd inode number of the process now running as `pid`; undefined without pidfs or process. */
  pidfdIdOfPid(pid: number): number | undefined
  /** The same for a pinned process; undefined once it is not the pinned process any more. */
  pidfdIdOf(ref: ProcessRef): number | undefined
}

type Params = Readonly<Record<string, unknown>>
type MutableRegister = { -readonly [K in keyof RegisterRequest]: RegisterRequest[K] }

/** A process as json_dispatch_pidref() reads it: {pid, pidfdId?, bootId?}, or the PID alone. */
interface ProcessId {
  readonly pid: number
  /** 0n when not given; 2^64-1 for a null pidfdId (sd_json_dispatch_uint64() of null), which no process has. */
  readonly pidfdId: bigint
  readonly bootId: string | undefined
}

const PROCESS_ID_FIELDS = new Set(['pid', 'pidfdId', 'bootId'])

/**
 * json_dispatch_pidref() takes more than the IDL's ProcessId: "a simple
 * classic integer based format", or that integer as a string ("as usual,
 * allow integers be encoded as strings too"), or the object, whose pid and
 * pidfdId may be strings as well (sd_json_dispatch_uint64()). Clients of
 * systemd 256/257, whose IDL still declared `pid: int`, send the integer.
 * With `automatic` (SD_JSON_RELAX), a zero PID with no pidfdId or bootId
 * means the caller (PIDREF_AUTOMATIC).
 */
function processId(v: unknown, options: { automatic: boolean }): ProcessId | undefined {
  let pid: number | undefined
  let pidfdId = 0n
  let bootId: string | undefined
  if (typeof v === 'number' || typeof v === 'string') {
    pid = unsignedValue(v)
  } else if (isPlainObject(v)) {
    if (Object.keys(v).some((k) => !PROCESS_ID_FIELDS.has(k))) return undefined
    pid = unsignedValue(v.pid)
    if (v.pidfdId === null) pidfdId = 0xffff_ffff_ffff_ffffn
    else if (v.pidfdId !== undefined) {
      const id = unsignedValue(v.pidfdId)
      if (id === undefined) return undefined
      pidfdId = BigInt(id)
    }
    if (v.bootId !== undefined && v.bootId !== null) {
      const bytes = id128Value(v.bootId)
      if (bytes === undefined) return undefined
      // The null id reads as "not given", as SD_ID128_NULL does.
      if (bytes.some((b) => b !== 0)) bootId = id128ToString(bytes)
    }
  } else {
    return undefined
  }
  if (options.automatic && pid === 0 && pidfdId === 0n && bootId === undefined) return { pid: 0, pidfdId, bootId }
  const valid = pidValue(pid)
  return valid === undefined ? undefined : { pid: valid, pidfdId, bootId }
}

export interface DecodedRegister {
  readonly request: RegisterRequest
  /** Which field named the leader, for errors about it: leader, leaderProcessId, or neither (the caller). */
  readonly leaderField: 'leader' | 'leaderProcessId' | undefined
}

/** Register's parameters (vl_method_register()'s dispatch table). */
export function decodeRegister(params: Params, identity: ProcessIdentity): DecodedRegister {
  const r: MutableRegister = {
    name: '', id: new Uint8Array(0), service: '', class: '', leader: 0, rootDirectory: '', netifs: undefined,
    allocateUnit: false, scopeProperties: [],
  }
  let leaderField: DecodedRegister['leaderField']
  const setLeader = (field: 'leader' | 'leaderProcessId', pid: number): void => {
    // "If both … are specified they must reference the same process"; the later one is blamed.
    if (leaderField !== undefined && r.leader !== pid) throw invalidParameter(field)
    if (pid === 1) throw invalidParameter(field)
    r.leader = pid
    leaderField = field
  }
  for (const [key, v] of Object.entries(params)) {
    if (v === null) continue
    switch (key) {
      case 'name':
        if (!machineNameIsValid(v as string)) throw invalidParameter(key)
        r.name = v as string
        break
      case 'id': {
        const id = id128Value(v)
        if (id === undefined) throw invalidParameter(key)
        r.id = id
        break
      }
      case 'service':
        r.service = v as string
        break
      case 'class':
        if (machineClassFromString(v as string) === undefined) throw invalidParameter(key)
        r.class = v as string
        break
      case 'leader':
      case 'leaderProcessId': {
        // Both go through json_dispatch_pidref(); the IDL lets only an integer (or its string) through for leader.
        const p = processId(v, { automatic: false })
        if (p === undefined) throw invalidParameter(key)
        // SD_JSON_STRICT: the triplet must name this very process on this very boot.
        if (p.bootId !== undefined && p.bootId !== identity.bootId) throw invalidParameter(key)
        if (p.pidfdId > 0n) {
          const actual = identity.pidfdIdOfPid(p.pid)
          if (actual !== undefined && BigInt(actual) !== p.pidfdId) throw invalidParameter(key)
          // The core checks it again once it holds the leader's pidfd, so a PID reused in between is caught too.
          if (p.pidfdId <= BigInt(Number.MAX_SAFE_INTEGER)) r.leaderPidfdId = Number(p.pidfdId)
        }
        setLeader(key, p.pid)
        break
      }
      case 'rootDirectory': {
        const path = absolutePathValue(v)
        if (path === undefined) throw invalidParameter(key)
        r.rootDirectory = path
        break
      }
      case 'ifIndices': {
        const list = (v as unknown[]).map((e) => (typeof e === 'number' && Number.isInteger(e) && e > 0 && e <= 0x7fffffff ? e : undefined))
        if (list.includes(undefined)) throw invalidParameter(key)
        r.netifs = list as number[]
        break
      }
      case 'vSockCid': {
        // sd_json_dispatch_uint() (an integer, or its string), then VSOCK_CID_IS_REGULAR(): above VMADDR_CID_HOST (2), below VMADDR_CID_ANY.
        const cid = unsignedValue(v, UINT32_MAX)
        if (cid === undefined || cid <= 2 || cid >= 0xffffffff) throw invalidParameter(key)
        r.vsockCid = cid
        break
      }
      case 'sshAddress':
        if (safeStringValue(v) === undefined) throw invalidParameter(key)
        r.sshAddress = v as string
        break
      case 'sshPrivateKeyPath': {
        const path = absolutePathValue(v)
        if (path === undefined) throw invalidParameter(key)
        r.sshPrivateKeyPath = path
        break
      }
      case 'allocateUnit':
        r.allocateUnit = v as boolean
        break
      // allowInteractiveAuthentication: there is no polkit to ask; the core's Authorizer decides.
    }
  }
  return { request: r, leaderField }
}

/** The name/pid pair every per-machine method takes (VARLINK_DISPATCH_MACHINE_LOOKUP_FIELDS). */
export interface Lookup {
  readonly name: string | undefined
  /** 0 means the caller's own machine. */
  readonly pid: number | undefined
  /** A ProcessId from another boot names no process here. */
  readonly foreign: boolean
}

export function decodeLookup(params: Params, identity: ProcessIdentity): Lookup {
  let pid: number | undefined
  let foreign = false
  if (params.pid !== undefined && params.pid !== null) {
    const p = processId(params.pid, { automatic: true })
    if (p === undefined) throw invalidParameter('pid')
    pid = p.pid
    foreign = p.bootId !== undefined && p.bootId !== identity.bootId
  }
  const name = typeof params.name === 'string' ? params.name : undefined
  return { name, pid, foreign }
}

/** lookup_machine_by_name(): ".host" may be named, anything else must be a valid hostname. */
export function lookupNameIsValid(name: string): boolean {
  return hostnameIsValid(name, { allowDotHost: true })
}

/**
 * sd_json_dispatch_signal(): a string is a signal as signal_from_string()
 * reads it ("SIGTERM", "TERM", "15", "RTMIN+4"), anything else an int
 * (sd_json_dispatch_int()); either way 1…64.
 */
export function decodeSignal(v: unknown): number {
  const signal = typeof v === 'string' ? signalFromString(v) : typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined
  if (signal === undefined || !signalIsValid(signal)) throw invalidParameter('signal')
  return signal
}

/** sd_json_dispatch_uid_gid(): absent, or a valid id. */
export function decodeId(params: Params, field: 'uid' | 'gid'): number | undefined {
  const v = params[field]
  if (v === undefined || v === null) return undefined
  const id = uidValue(v)
  if (id === undefined) throw invalidParameter(field)
  return id
}

/**
 * source and destination of CopyFrom, CopyTo and BindMount
 * (json_dispatch_const_path(): a valid absolute path, else InvalidParameter);
 * a missing destination is "", the same path as source.
 */
export function decodePaths(parameters: Readonly<Record<string, unknown>>): { source: string; destination: string } {
  const path = (field: string): string => {
    const v = parameters[field]
    if (v === undefined || v === null) return ''
    const p = absolutePathValue(v)
    if (p === undefined) throw invalidParameter(field)
    return p
  }
  const source = path('source')
  if (source === '') throw invalidParameter('source')
  return { source, destination: path('destination') }
}
