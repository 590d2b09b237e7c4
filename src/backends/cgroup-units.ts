/**
 * Scopes without systemd: machined keeps its own part of the cgroup tree
 * (machine.slice/machine-<name>.scope) in every hierarchy that tracks
 * processes, applies what scope settings a cgroup can express, and removes
 * a scope once it is released and empty, as PID 1 garbage-collects a
 * transient scope. Settings of the scopes it made are kept under its
 * runtime directory so a restarted daemon stops them the same way (PID 1
 * keeps transient units in /run/systemd/transient/ for the same reason).
 * The record is written before the scope is made, so a crash at any point
 * leaves a record a restarted daemon finds (leftoverScopes()) and can clean
 * up after; only scopes this daemon recorded are ever touched, never those
 * of another service sharing the host's cgroup tree.
 * @module
 */

import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { readdir, readFile, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { FailedError, NoSuchProcessError, UnitExistsError } from '../protocol/errors.ts'
import type { CreateScopeRequest, Disposable, Log, ProcessRef, UnitRef, Units } from '../core/ports.ts'
import type { ScopeSettings } from '../core/scope-properties.ts'
import { allHierarchies, trackingHierarchies, trackingHierarchy, type CgroupLayout } from '../linux/cgroup-layout.ts'
import { cgroupIn, parseProcCgroup, trackingCgroupOfText, unitCgroupPath, unitOfCgroupPath } from '../linux/cgroup-paths.ts'
import { cgroupPopulated, killCgroupTree, removeCgroupTree } from '../linux/cgroup-tree.ts'
import { readProcCgroup, readProcCgroups } from '../linux/proc.ts'
import { deviceAllowLines } from './device-rules.ts'
import { InotifyWatches } from './inotify.ts'
import { ACCOUNTING_PROPERTIES, applyLimits, controllerHierarchies } from './scope-limits.ts'
import { firstPhase, lastPhase, leaderRunning, stopTimeoutMs, type StopSettings } from './scope-stop.ts'

/** How often a v1-only host (no cgroup.events) is polled for an emptied scope. */
const LEGACY_POLL_MS = 500

interface ScopeRecord extends Omit<StopSettings, 'sendSighup' | 'finalKillSignal'> {
  readonly unit: string
  readonly cgroup: string
  /** Mount points the scope was created in. */
  readonly hierarchies: string[]
  // Optional: records written by versions that did not honour them yet.
  readonly sendSighup?: boolean
  readonly finalKillSignal?: number
  released: boolean
  /**
   * Where a stop is (not saved: a restarted daemon stops again): under way,
   * or over, when systemd would call the unit inactive although processes
   * may remain (KillMode=none, SendSIGKILL=no after the timeout).
   */
  stop?: 'stopping' | 'over'
}

/** machined's defaults for a scope taken back with no settings saved. */
const DEFAULT_STOP: StopSettings = {
  killSignal: 15, killMode: 'control-group', sendSigkill: true, sendSighup: false, finalKillSignal: 9, timeoutStopUsec: 90_000_000, leaderPid: 0,
}

function stopSettingsOf(record: ScopeRecord | undefined): StopSettings {
  return record === undefined ? DEFAULT_STOP : { ...DEFAULT_STOP, ...record, sendSighup: record.sendSighup ?? false, finalKillSignal: record.finalKillSignal ?? 9 }
}

export interface CgroupUnitsOptions {
  readonly layout: CgroupLayout
  /** Where scope settings are kept, e.g. /run/machined-ts/scopes. */
  readonly runtimeDir: string
  readonly log: Log
  readonly procRoot?: string
  /** Watches files for changes (tests pass one that fails); InotifyWatches by default. */
  readonly fileWatches?: FileWatches
}

/** What CgroupUnits needs of InotifyWatches. */
export interface FileWatches {
  /** Throws a system error (ENOENT, ENOSPC, ...) when the file cannot be watched. */
  watch(path: string, onChange: () => void): Disposable
  dispose(): void
}

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code
}

export class CgroupUnits implements Units {
  readonly #layout: CgroupLayout
  readonly #runtimeDir: string
  readonly #log: Log
  readonly #procRoot: string
  readonly #scopes = new Map<string, ScopeRecord>()
  readonly #stopTimers = new Map<string, NodeJS.Timeout>()
  readonly #releaseWatchers = new Map<string, Disposable>()
  /** Who watches each unit: told when a stop ends with processes left, which no cgroup event announces. */
  readonly #watchers = new Map<string, Set<() => void>>()
  /** One inotify fd for every scope's cgroup.events (not one FSWatcher per scope: memory). */
  readonly #inotify: FileWatches

  constructor(options: CgroupUnitsOptions) {
    this.#layout = options.layout
    this.#runtimeDir = options.runtimeDir
    this.#log = options.log
    this.#procRoot = options.procRoot ?? '/proc'
    this.#inotify = options.fileWatches ?? new InotifyWatches()
  }

  /** The hierarchy whose cgroup.procs and cgroup.events we read. */
  get #tracking(): string {
    const root = trackingHierarchy(this.#layout)
    if (root === undefined) throw new FailedError('No cgroup hierarchy to track processes in')
    return root
  }

  async createScope(request: CreateScopeRequest): Promise<UnitRef> {
    const { unit, leader, settings } = request
    const cgroup = unitCgroupPath(settings.slice, unit)
    const devices = deviceAllowLines(settings.devicePolicy, settings.deviceAllow)
    // Tracking first, then the controllers: the leader is moved in that order, and the record's order is undone on removal.
    const hierarchies = [...trackingHierarchies(this.#layout), ...controllerHierarchies(this.#layout, settings)]
    if (devices !== undefined && this.#layout.devicesV1 !== undefined) hierarchies.push(this.#layout.devicesV1)

    if (this.#scopes.has(unit)) throw new UnitExistsError(unit)
    // Only a cgroup that is there can be in use or left over. Asked with a stat that returns rather than throws: the
    // checks below learn of a missing cgroup from five ENOENT errors per hierarchy, about 50 µs each to make.
    const leftover = hierarchies.filter((h) => statSync(join(h, cgroup), { throwIfNoEntry: false }) !== undefined)
    if (leftover.some((h) => cgroupPopulated(join(h, cgroup)))) throw new UnitExistsError(unit)

    const record: ScopeRecord = {
      unit, cgroup, hierarchies,
      killSignal: settings.killSignal, killMode: settings.killMode, sendSigkill: settings.sendSigkill, sendSighup: settings.sendSighup,
      finalKillSignal: settings.finalKillSignal, timeoutStopUsec: settings.timeoutStopUsec, leaderPid: leader.pid, released: false,
    }
    const before = this.#readProcCgroup(leader.pid)
    // The record first: whatever happens from here on, a restarted daemon knows this scope is ours.
    this.#saveRecord(record)
    const created: string[] = []
    try {
      for (const h of hierarchies) {
        if (leftover.includes(h)) removeCgroupTree(join(h, cgroup)) // an empty leftover of an earlier run (systemd#2809)
        mkdirSync(join(h, cgroup), { recursive: true })
        created.push(h)
      }
      this.#applySettings(cgroup, settings, devices)
      for (const h of created) writeFileSync(join(h, cgroup, 'cgroup.procs'), `${leader.pid}\n`)
    } catch (err) {
      this.#undoCreate(leader, before, cgroup, created)
      await rm(this.#recordPath(unit), { force: true })
      if (isErrno(err, 'ESRCH')) throw new NoSuchProcessError(`Process ${leader.pid} has exited`)
      throw new FailedError(`Failed to create scope ${unit}: ${(err as Error).message}`, { cause: err })
    }
    this.#scopes.set(unit, record)
    return { unit, cgroup }
  }

  /** cgroupfs is in-kernel like procfs: writes here are synchronous, so no other call interleaves with a half-made scope. */
  #applySettings(cgroup: string, settings: ScopeSettings, devices: string[] | undefined): void {
    applyLimits(this.#layout, cgroup, settings, this.#log)
    if (devices !== undefined) {
      if (this.#layout.devicesV1 === undefined) {
        // cgroup2 device control needs a BPF program, which we do not load.
        this.#log.warn('DevicePolicy=/DeviceAllow= not enforced: no cgroup v1 devices controller, ignoring', { cgroup })
      } else {
        const dir = join(this.#layout.devicesV1, cgroup)
        writeFileSync(join(dir, 'devices.deny'), 'a\n')
        for (const line of devices) writeFileSync(join(dir, 'devices.allow'), `${line}\n`)
      }
    }
    for (const name of new Set(settings.unenforced.map((p) => p.name))) if (ACCOUNTING_PROPERTIES[name] === undefined) this.#log.debug('Scope property only a service manager can honour, ignoring', { property: name, cgroup })
  }

  /** Puts the leader back where it was in each hierarchy we made the scope in, then removes what we made. */
  #undoCreate(leader: ProcessRef, before: string, cgroup: string, created: string[]): void {
    const lines = parseProcCgroup(before)
    for (const h of created) {
      const old = cgroupIn(lines, this.#layout, h)
      if (old === undefined) continue
      try {
        writeFileSync(join(h, old, 'cgroup.procs'), `${leader.pid}\n`)
      } catch {
        // The leader is gone, or its old cgroup is: nothing to put back.
      }
    }
    for (const h of created.reverse()) removeCgroupTree(join(h, cgroup))
  }

  #readProcCgroup(pid: number): string {
    const text = readProcCgroup(pid, this.#procRoot)
    if (text === undefined) throw new NoSuchProcessError(`Failed to determine unit of process ${pid} : No such process`)
    return text
  }

  async unitOfPid(pid: number): Promise<UnitRef | undefined> {
    return this.#unitOfText(this.#readProcCgroup(pid))
  }

  /** The /proc/PID/cgroup files are read on a libuv worker: at start-up a fifth of the work for 10,000 leaders. */
  async unitsOfPids(pids: readonly number[]): Promise<Map<number, UnitRef | undefined>> {
    const texts = await readProcCgroups(pids, this.#procRoot)
    return new Map([...texts].map(([pid, text]) => [pid, this.#unitOfText(text)]))
  }

  #unitOfText(text: string): UnitRef | undefined {
    const path = trackingCgroupOfText(text, this.#layout)
    return path === undefined ? undefined : unitOfCgroupPath(path)
  }

  /**
   * Whether the unit is still active: its cgroup holds a process, and no
   * stop has ended that systemd would call over (KillMode=none at once,
   * KillMode=process once the leader is gone, SendSIGKILL=no at the
   * timeout), which leaves the rest running as it leaves them in a dead
   * scope.
   */
  async isPopulated(ref: UnitRef): Promise<boolean> {
    const record = this.#scopes.get(ref.unit)
    if (record?.stop === 'over') return false
    if (record?.stop === 'stopping' && record.killMode === 'process' && !leaderRunning(record.leaderPid, this.#procRoot)) return false
    return cgroupPopulated(join(this.#tracking, ref.cgroup))
  }

  async kill(ref: UnitRef, signal: number): Promise<void> {
    killCgroupTree(join(this.#tracking, ref.cgroup), signal)
  }

  /** StopUnit without systemd: the two phases of scope-stop.ts, with the timeout between them; a stop under way is not restarted. */
  async stop(ref: UnitRef): Promise<void> {
    const record = this.#scopes.get(ref.unit)
    if (record?.stop !== undefined) return
    const settings = stopSettingsOf(record)
    const dir = join(this.#tracking, ref.cgroup)
    if (record !== undefined) record.stop = 'stopping'
    const next = firstPhase(dir, settings)
    if (next === 'over') return this.#stopOver(record)
    if (next === 'last-phase') return this.#lastPhase(dir, settings, record)
    const ms = stopTimeoutMs(settings.timeoutStopUsec)
    if (ms === undefined || this.#stopTimers.has(ref.unit)) return
    const timer = setTimeout(() => {
      this.#stopTimers.delete(ref.unit)
      this.#lastPhase(dir, settings, record)
    }, ms)
    timer.unref()
    this.#stopTimers.set(ref.unit, timer)
  }

  /** After the timeout: FinalKillSignal, or, with SendSIGKILL=no, the stop gives up and is over ("Skipping SIGKILL"). */
  #lastPhase(dir: string, settings: StopSettings, record: ScopeRecord | undefined): void {
    lastPhase(dir, settings)
    if (!settings.sendSigkill) this.#stopOver(record)
  }

  #stopOver(record: ScopeRecord | undefined): void {
    if (record === undefined) return
    record.stop = 'over'
    for (const w of this.#watchers.get(record.unit) ?? []) queueMicrotask(w)
  }

  watch(ref: UnitRef, onChange: () => void): Disposable {
    const watchers = this.#watchers.get(ref.unit) ?? new Set()
    this.#watchers.set(ref.unit, watchers)
    watchers.add(onChange)
    const inner = this.#watchTree(ref, onChange)
    return {
      dispose: () => {
        inner.dispose()
        watchers.delete(onChange)
        if (watchers.size === 0) this.#watchers.delete(ref.unit)
      },
    }
  }

  #watchTree(ref: UnitRef, onChange: () => void): Disposable {
    const poll = (): Disposable => {
      const timer = setInterval(onChange, LEGACY_POLL_MS)
      timer.unref()
      return { dispose: () => clearInterval(timer) }
    }
    // cgroup v1 has no cgroup.events to watch.
    if (this.#layout.unified === undefined) return poll()
    try {
      return this.#inotify.watch(join(this.#layout.unified, ref.cgroup, 'cgroup.events'), onChange)
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) return poll() // e.g. out of inotify watches: look every so often instead
      queueMicrotask(onChange) // already gone: let the caller look now
      return { dispose: () => undefined }
    }
  }

  async reattach(ref: UnitRef): Promise<void> {
    if (this.#scopes.has(ref.unit)) return
    const saved = await this.#readRecord(ref.unit)
    if (saved !== undefined) {
      this.#scopes.set(ref.unit, saved)
      return
    }
    // No settings saved (a scope of an older version, or a record lost): machined's defaults, in every hierarchy the scope exists in.
    const hierarchies = allHierarchies(this.#layout).filter((h) => existsSync(join(h, ref.cgroup)))
    if (hierarchies.length === 0) return
    this.#log.debug('No saved settings for scope, using defaults', { unit: ref.unit })
    this.#scopes.set(ref.unit, { ...DEFAULT_STOP, unit: ref.unit, cgroup: ref.cgroup, hierarchies, released: false })
  }

  async #readRecord(unit: string): Promise<ScopeRecord | undefined> {
    try {
      const record = JSON.parse(await readFile(this.#recordPath(unit), 'utf8')) as ScopeRecord
      return record.unit === unit && typeof record.cgroup === 'string' && Array.isArray(record.hierarchies) ? record : undefined
    } catch {
      return undefined
    }
  }

  /**
   * The scopes recorded in the runtime directory by this or an earlier
   * run. A record whose scope is gone from every hierarchy (the crash came
   * between writing the record and making the scope) is removed here.
   */
  async leftoverScopes(): Promise<UnitRef[]> {
    let names: string[]
    try {
      names = await readdir(this.#runtimeDir)
    } catch {
      return []
    }
    const out: UnitRef[] = []
    for (const file of names) {
      if (file.endsWith('.tmp')) {
        await rm(join(this.#runtimeDir, file), { force: true })
        continue
      }
      const unit = decodeURIComponent(file)
      const record = this.#scopes.get(unit) ?? (await this.#readRecord(unit))
      if (record === undefined || !record.hierarchies.some((h) => existsSync(join(h, record.cgroup)))) {
        if (!this.#scopes.has(unit)) await rm(join(this.#runtimeDir, file), { force: true })
        continue
      }
      out.push({ unit, cgroup: record.cgroup })
    }
    return out
  }

  async release(ref: UnitRef): Promise<void> {
    const record = this.#scopes.get(ref.unit)
    if (record === undefined || record.released) return
    record.released = true
    // The leader is moved into one hierarchy after another: a crash in between (kill -9 while a registration
    // made its scope) leaves copies it never reached. Empty ones go now (rmdir refuses a copy with processes or
    // sub-cgroups), the tracking one and the rest once the scope is empty.
    for (const h of record.hierarchies) if (h !== this.#tracking) removeCgroupTree(join(h, record.cgroup), { recurse: false })
    const tryRemove = async (): Promise<void> => {
      // Its processes, not whether a stop is over: what a stop left running keeps the scope (and its record) until it ends.
      if (cgroupPopulated(join(this.#tracking, ref.cgroup))) return
      this.#releaseWatchers.get(ref.unit)?.dispose()
      this.#releaseWatchers.delete(ref.unit)
      await this.#remove(record)
    }
    this.#releaseWatchers.set(ref.unit, this.watch(ref, () => { tryRemove().catch(() => undefined) }))
    await tryRemove()
  }

  async #remove(record: ScopeRecord): Promise<void> {
    const timer = this.#stopTimers.get(record.unit)
    if (timer !== undefined) clearTimeout(timer)
    this.#stopTimers.delete(record.unit)
    // The tracking hierarchies last, so a scope never looks gone while a controller copy remains.
    for (const h of [...record.hierarchies].reverse()) {
      removeCgroupTree(join(h, record.cgroup))
      // Slices exist for their scopes: an emptied machine.slice goes too (rmdir refuses a busy one).
      for (let dir = dirname(record.cgroup); dir !== '/' && dir !== '.'; dir = dirname(dir)) removeCgroupTree(join(h, dir), { recurse: false })
    }
    this.#scopes.delete(record.unit)
    await rm(this.#recordPath(record.unit), { force: true })
  }

  #recordPath(unit: string): string {
    return join(this.#runtimeDir, encodeURIComponent(unit))
  }

  /**
   * Synchronous, as the state files are (state-dir.ts): the runtime
   * directory is a tmpfs, where the write costs less than the four
   * thread-pool trips of the asynchronous calls, and this is on the path
   * of every CreateMachine.
   */
  #saveRecord(record: ScopeRecord): void {
    mkdirSync(this.#runtimeDir, { recursive: true })
    const path = this.#recordPath(record.unit)
    const tmp = `${path}.tmp`
    writeFileSync(tmp, JSON.stringify(record))
    renameSync(tmp, path)
  }

  /** Stops timers and watchers; cgroups stay as they are. */
  dispose(): void {
    for (const t of this.#stopTimers.values()) clearTimeout(t)
    this.#stopTimers.clear()
    for (const w of this.#releaseWatchers.values()) w.dispose()
    this.#releaseWatchers.clear()
    this.#watchers.clear()
    this.#inotify.dispose()
  }
}
