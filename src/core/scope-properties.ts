/**
 * Scope properties that callers of CreateMachine send (a(sv) on D-Bus),
 * checked and turned into settings a Units backend can apply.
 * systemd-machined forwards them, after its own, to PID 1's
 * StartTransientUnit, which takes for a scope what bus_scope_set_property()
 * takes: the cgroup properties (bus_cgroup_set_property()), the kill
 * properties (bus_kill_context_set_transient_property()), the scope's own
 * (TimeoutStopUSec, RuntimeMaxUSec, Controller, …) and the unit's
 * (Description, Slice, dependencies, …); anything else is refused. Where
 * systemd runs the scope, everything accepted goes to it; without systemd
 * we apply what changes what a user sees (the kill settings, TasksMax=,
 * MemoryMax=, the device policy) and keep the rest in `unenforced`, which
 * only a service manager could honour (docs/compat.md has the table).
 * @module
 */

import { InvalidArgsError } from '../protocol/errors.ts'
import { signalIsValid } from '../protocol/vocabulary.ts'
import { MACHINE_SLICE, sliceNameIsValid } from '../protocol/unit-name.ts'

/** One property as a transport decoded it: D-Bus signature plus a plain JS value. */
export interface ScopeProperty {
  readonly name: string
  readonly signature: string
  readonly value: unknown
}

export const DEVICE_POLICIES = ['auto', 'closed', 'strict'] as const
export type DevicePolicy = (typeof DEVICE_POLICIES)[number]
export const KILL_MODES = ['control-group', 'mixed', 'process', 'none'] as const
export type KillMode = (typeof KILL_MODES)[number]

export interface DeviceAllowRule {
  /** A device node path, or "char-<driver>" / "block-<driver>" as in /proc/devices. */
  readonly specifier: string
  /** Some of r, w, m. */
  readonly access: string
}

export interface ScopeSettings {
  slice: string
  description: string | undefined
  /** undefined = no limit ("infinity"). */
  tasksMax: bigint | undefined
  devicePolicy: DevicePolicy
  deviceAllow: DeviceAllowRule[]
  killSignal: number
  killMode: KillMode
  sendSigkill: boolean
  /** SIGHUP right after KillSignal, for shells and their like (SendSIGHUP=). */
  sendSighup: boolean
  /** What the last stop phase sends, after the timeout (FinalKillSignal=, SIGKILL by default). */
  finalKillSignal: number
  /** How long a stop waits before its last phase; Number.MAX_SAFE_INTEGER and above mean for ever (USEC_INFINITY). */
  timeoutStopUsec: number
  /** Bus name systemd would notify on stop (nspawn passes its own). */
  controller: string | undefined
  memoryMax: bigint | undefined
  /**
   * Properties accepted because only a service manager can honour them, as
   * the caller sent them and in that order: forwarded to systemd where it
   * runs the scope, logged otherwise.
   */
  unenforced: ScopeProperty[]
}

/** systemd-machined's own defaults for machine scopes (machine.c, machine_start_scope). */
export const MACHINE_SCOPE_TASKS_MAX = 16384n
const SIGTERM = 15
const SIGKILL = 9
/** DefaultTimeoutStopSec=90s. */
const DEFAULT_TIMEOUT_STOP_USEC = 90_000_000
const UINT64_MAX = 0xffff_ffff_ffff_ffffn

export function defaultScopeSettings(): ScopeSettings {
  return {
    slice: MACHINE_SLICE,
    description: undefined,
    tasksMax: MACHINE_SCOPE_TASKS_MAX,
    devicePolicy: 'auto',
    deviceAllow: [],
    killSignal: SIGTERM,
    killMode: 'control-group',
    sendSigkill: true,
    sendSighup: false,
    finalKillSignal: SIGKILL,
    timeoutStopUsec: DEFAULT_TIMEOUT_STOP_USEC,
    controller: undefined,
    memoryMax: undefined,
    unenforced: [],
  }
}

type Apply = (settings: ScopeSettings, value: unknown, name: string) => void

interface PropertyRule {
  readonly signature: string
  readonly apply: Apply
}

function unenforced(signature: string, check?: (value: unknown, name: string) => void): PropertyRule {
  return {
    signature,
    apply: (s, value, name) => {
      check?.(value, name)
      s.unenforced.push({ name, signature, value })
    },
  }
}

/** signal_to_string_with_check(): the kill properties take 1…64 only. */
function signal(value: unknown, name: string): number {
  if (typeof value !== 'number' || !signalIsValid(value)) throw invalid(name)
  return value
}

function invalid(name: string): InvalidArgsError {
  return new InvalidArgsError(`Invalid value for property ${name}`, { parameter: name })
}

function oneOf<const T extends readonly string[]>(table: T, value: unknown, name: string): T[number] {
  if (typeof value === 'string' && (table as readonly string[]).includes(value)) return value
  throw invalid(name)
}

function uint64(value: unknown, name: string): bigint {
  if (typeof value === 'bigint' && value >= 0n && value <= UINT64_MAX) return value
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value)
  throw invalid(name)
}

const DEVICE_ACCESS = /^[rwm]{0,3}$/

/** What we know, with the D-Bus signature systemd's transient-unit parser expects. */
const RULES: Readonly<Record<string, PropertyRule>> = {
  Slice: {
    signature: 's',
    apply: (s, v, name) => {
      if (typeof v !== 'string' || !sliceNameIsValid(v)) throw invalid(name)
      s.slice = v
    },
  },
  Description: { signature: 's', apply: (s, v) => { s.description = String(v) } },
  TasksMax: {
    signature: 't',
    apply: (s, v, name) => { const n = uint64(v, name); s.tasksMax = n === UINT64_MAX ? undefined : n },
  },
  DevicePolicy: { signature: 's', apply: (s, v, name) => { s.devicePolicy = oneOf(DEVICE_POLICIES, v, name) } },
  DeviceAllow: {
    signature: 'a(ss)',
    apply: (s, v, name) => {
      if (!Array.isArray(v)) throw invalid(name)
      // An empty array resets the list, as in systemd's bus_cgroup_set_property().
      if (v.length === 0) s.deviceAllow = []
      for (const entry of v as unknown[]) {
        if (!Array.isArray(entry) || entry.length !== 2) throw invalid(name)
        const [specifier, access] = entry as unknown[]
        if (typeof specifier !== 'string' || typeof access !== 'string') throw invalid(name)
        const validSpecifier = specifier.startsWith('/dev/') || /^(char|block)-[^\s/]+$/.test(specifier)
        if (!validSpecifier || !DEVICE_ACCESS.test(access)) throw invalid(name)
        s.deviceAllow.push({ specifier, access: access === '' ? 'rwm' : access })
      }
    },
  },
  KillSignal: { signature: 'i', apply: (s, v, name) => { s.killSignal = signal(v, name) } },
  FinalKillSignal: { signature: 'i', apply: (s, v, name) => { s.finalKillSignal = signal(v, name) } },
  KillMode: { signature: 's', apply: (s, v, name) => { s.killMode = oneOf(KILL_MODES, v, name) } },
  SendSIGKILL: { signature: 'b', apply: (s, v) => { s.sendSigkill = v === true } },
  SendSIGHUP: { signature: 'b', apply: (s, v) => { s.sendSighup = v === true } },
  TimeoutStopUSec: {
    signature: 't',
    apply: (s, v, name) => {
      const n = uint64(v, name)
      s.timeoutStopUsec = n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n)
    },
  },
  Controller: { signature: 's', apply: (s, v) => { s.controller = String(v) } },
  MemoryMax: {
    signature: 't',
    apply: (s, v, name) => { const n = uint64(v, name); s.memoryMax = n === UINT64_MAX ? undefined : n },
  },
  // Accepted as systemd accepts them; they only mean something to a service manager.
  Delegate: unenforced('b'),
  CollectMode: unenforced('s'),
  AddRef: unenforced('b'),
  DefaultDependencies: unenforced('b'),
  After: unenforced('as'),
  Before: unenforced('as'),
  Wants: unenforced('as'),
  Requires: unenforced('as'),
  BindsTo: unenforced('as'),
  PartOf: unenforced('as'),
  Conflicts: unenforced('as'),
  // A scope is never restarted and has no watchdog: PID 1 stores these and never uses them.
  RestartKillSignal: unenforced('i', signal),
  WatchdogSignal: unenforced('i', signal),
  TasksAccounting: unenforced('b'),
  MemoryAccounting: unenforced('b'),
  CPUAccounting: unenforced('b'),
  IOAccounting: unenforced('b'),
  MemoryHigh: unenforced('t'),
  MemoryLow: unenforced('t'),
  MemoryMin: unenforced('t'),
  MemorySwapMax: unenforced('t'),
  CPUQuotaPerSecUSec: unenforced('t'),
  CPUWeight: unenforced('t'),
  StartupCPUWeight: unenforced('t'),
  IOWeight: unenforced('t'),
  RuntimeMaxUSec: unenforced('t'),
  RuntimeRandomizedExtraUSec: unenforced('t'),
  OOMPolicy: unenforced('s'),
  User: unenforced('s'),
  Group: unenforced('s'),
  IPAccounting: unenforced('b'),
}

/**
 * Applies the caller's properties over machined's defaults. Unknown names are
 * refused with the words systemd's PID 1 uses; a wrong D-Bus type is refused
 * as systemd's transient-unit parser refuses it.
 */
export function parseScopeProperties(properties: readonly ScopeProperty[]): ScopeSettings {
  const settings = defaultScopeSettings()
  for (const p of properties) {
    const rule = Object.hasOwn(RULES, p.name) ? RULES[p.name] : undefined
    if (rule === undefined) {
      throw new InvalidArgsError(`Cannot set property ${p.name}, or unknown property.`, { parameter: p.name })
    }
    if (p.signature !== rule.signature) {
      throw new InvalidArgsError(
        `Invalid type '${p.signature}' for property ${p.name}, expecting '${rule.signature}'`,
        { parameter: p.name },
      )
    }
    rule.apply(settings, p.value, p.name)
  }
  return settings
}
