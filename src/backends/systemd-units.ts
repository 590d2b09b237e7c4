/**
 * Scopes through systemd, for hosts where it is PID 1: the same Units port
 * served by org.freedesktop.systemd1 (StartTransientUnit, KillUnit,
 * StopUnit, UnrefUnit), with the properties systemd-machined itself sends
 * (machine.c, machine_start_scope). Process lookups and emptiness checks
 * read the cgroup tree, which systemd keeps in the same shape.
 * @module
 */

import { FailedError, NoSuchProcessError } from '../protocol/errors.ts'
import type { CreateScopeRequest, Disposable, Log, UnitRef, Units } from '../core/ports.ts'
import { MACHINE_SCOPE_TASKS_MAX } from '../core/scope-properties.ts'
import { detectCgroupLayout, type CgroupLayout } from '../linux/cgroup-layout.ts'
import { unitCgroupPath } from '../linux/cgroup-paths.ts'
import { readProcStat } from '../linux/proc.ts'
import { CgroupUnits } from './cgroup-units.ts'
import { JobWaiter, type JobSignals } from './systemd-jobs.ts'

const SYSTEMD = 'org.freedesktop.systemd1'
const SYSTEMD_PATH = '/org/freedesktop/systemd1'
const SYSTEMD_MANAGER = 'org.freedesktop.systemd1.Manager'

/** How long a scope's start job may take before CreateMachine fails (PID 1 runs it at once). */
const SCOPE_JOB_TIMEOUT_MS = 30_000

/** The few bus operations this backend needs, injected by the daemon. */
export interface SystemdBus extends JobSignals {
  call(destination: string, path: string, iface: string, member: string, signature: string, body: readonly unknown[]): Promise<unknown[]>
  callDriver(member: string, signature: string, body: readonly unknown[]): Promise<unknown[]>
}

/** Variant values as the bus layer marshals them. */
export type MakeVariant = (signature: string, value: unknown) => unknown

/** sd_booted() and PID 1 answering on the bus: only then can systemd run our scopes. */
export async function systemdIsInit(bus: SystemdBus): Promise<boolean> {
  if (readProcStat(1)?.comm !== 'systemd') return false
  const [has] = await bus.callDriver('NameHasOwner', 's', [SYSTEMD]).catch(() => [false])
  return has === true
}

/** USEC_INFINITY for the timeouts we hold as "for ever" (scope-properties.ts clamps them to Number.MAX_SAFE_INTEGER). */
function timeoutStopUsec(usec: number): bigint {
  return usec >= Number.MAX_SAFE_INTEGER ? 0xffff_ffff_ffff_ffffn : BigInt(usec)
}

export class SystemdUnits implements Units {
  readonly #bus: SystemdBus
  readonly #variant: MakeVariant
  readonly #log: Log
  /** Reading and watching the tree works the same as without systemd. */
  readonly #tree: CgroupUnits
  readonly #jobs: JobWaiter

  constructor(options: { bus: SystemdBus; variant: MakeVariant; log: Log; layout?: CgroupLayout }) {
    this.#bus = options.bus
    this.#variant = options.variant
    this.#log = options.log
    const layout = options.layout ?? detectCgroupLayout()
    if (layout === undefined) throw new FailedError('No cgroup hierarchy is mounted')
    this.#tree = new CgroupUnits({ layout, runtimeDir: '/dev/null', log: options.log })
    this.#jobs = new JobWaiter(options.bus)
  }

  async createScope(request: CreateScopeRequest): Promise<UnitRef> {
    const { unit, leader, settings, description } = request
    const v = this.#variant
    const properties: [string, unknown][] = [
      ['Slice', v('s', settings.slice)],
      ['Description', v('s', settings.description ?? description)],
      ['PIDs', v('au', [leader.pid])],
      ['Delegate', v('b', true)],
      ['CollectMode', v('s', 'inactive-or-failed')],
      ['AddRef', v('b', true)],
      ['TasksMax', v('t', settings.tasksMax ?? MACHINE_SCOPE_TASKS_MAX)],
      ['KillSignal', v('i', settings.killSignal)],
      ['KillMode', v('s', settings.killMode)],
      ['SendSIGKILL', v('b', settings.sendSigkill)],
      ['SendSIGHUP', v('b', settings.sendSighup)],
      ['FinalKillSignal', v('i', settings.finalKillSignal)],
      ['TimeoutStopUSec', v('t', timeoutStopUsec(settings.timeoutStopUsec))],
    ]
    if (settings.devicePolicy !== 'auto') properties.push(['DevicePolicy', v('s', settings.devicePolicy)])
    if (settings.deviceAllow.length > 0) properties.push(['DeviceAllow', v('a(ss)', settings.deviceAllow.map((r) => [r.specifier, r.access]))])
    if (settings.memoryMax !== undefined) properties.push(['MemoryMax', v('t', settings.memoryMax)])
    if (settings.controller !== undefined) properties.push(['Controller', v('s', settings.controller)])
    // What only a service manager honours goes to it as the caller sent it, in order, as machined forwards the caller's properties.
    for (const p of settings.unenforced) properties.push([p.name, v(p.signature, p.value)])
    let job: unknown
    try {
      await this.#jobs.ready()
      ;[job] = await this.#bus.call(SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, 'StartTransientUnit', 'ssa(sv)a(sa(sv))', [unit, 'fail', properties, []])
    } catch (err) {
      throw new FailedError(`Failed to start machine scope ${unit}: ${(err as Error).message}`, { cause: err })
    }
    // The leader is in the scope only once the job is done: answer no sooner (systemd-machined neither).
    const result = typeof job === 'string' ? await this.#jobs.wait(job, SCOPE_JOB_TIMEOUT_MS) : 'done'
    if (result !== 'done') throw new FailedError(`Start job for unit ${unit} failed with '${result}'`)
    return { unit, cgroup: unitCgroupPath(settings.slice, unit) }
  }

  async unitOfPid(pid: number): Promise<UnitRef | undefined> {
    return this.#tree.unitOfPid(pid)
  }

  async unitsOfPids(pids: readonly number[]): Promise<Map<number, UnitRef | undefined>> {
    return this.#tree.unitsOfPids(pids)
  }

  async isPopulated(ref: UnitRef): Promise<boolean> {
    return this.#tree.isPopulated(ref)
  }

  async kill(ref: UnitRef, signal: number): Promise<void> {
    try {
      await this.#bus.call(SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, 'KillUnit', 'ssi', [ref.unit, 'all', signal])
    } catch (err) {
      throw new NoSuchProcessError(`Failed to kill unit ${ref.unit}: ${(err as Error).message}`)
    }
  }

  async stop(ref: UnitRef): Promise<void> {
    try {
      await this.#bus.call(SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, 'StopUnit', 'ss', [ref.unit, 'fail'])
    } catch (err) {
      const name = (err as { type?: string }).type ?? ''
      // A unit that is already gone has nothing left to stop (machine_stop() ignores these too).
      if (name === 'org.freedesktop.systemd1.NoSuchUnit' || name === 'org.freedesktop.systemd1.LoadFailed') return
      throw new FailedError(`Failed to stop machine scope ${ref.unit}: ${(err as Error).message}`, { cause: err })
    }
  }

  watch(ref: UnitRef, onChange: () => void): Disposable {
    return this.#tree.watch(ref, onChange)
  }

  async reattach(): Promise<void> {
    // systemd keeps the unit's settings itself.
  }

  async release(ref: UnitRef): Promise<void> {
    // Drop the reference AddRef=yes took, so PID 1 collects the scope once it is empty.
    await this.#bus.call(SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, 'UnrefUnit', 's', [ref.unit])
      .catch((err: unknown) => this.#log.debug('UnrefUnit failed, ignoring', { unit: ref.unit, error: String(err) }))
  }

  async leftoverScopes(): Promise<UnitRef[]> {
    // PID 1 collects a transient scope once it is empty and unreferenced (CollectMode=inactive-or-failed).
    return []
  }
}
