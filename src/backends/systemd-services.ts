/**
 * Machines from images where systemd is PID 1: exactly what machinectl
 * does with systemd-nspawn@.service (machinectl.c start_machine(),
 * enable_machine()), on our template units machined-spawn@NAME.service and
 * machined-vmspawn@NAME.service (data/service/): StartUnit and waiting
 * for its job (Type=notify: done once the launcher said READY=1, after its
 * machine registered), EnableUnitFiles with machines.target and Reload,
 * DisableUnitFiles. systemd then restarts, logs and stops them.
 * @module
 */

import { FailedError } from '../protocol/errors.ts'
import type { Image, Launch, MachineServices } from '../core/ports.ts'
import { vmBootFiles } from '../linux/image-search.ts'
import { JobWaiter } from './systemd-jobs.ts'
import type { SystemdBus } from './systemd-units.ts'

const SYSTEMD = 'org.freedesktop.systemd1'
const SYSTEMD_PATH = '/org/freedesktop/systemd1'
const SYSTEMD_MANAGER = 'org.freedesktop.systemd1.Manager'
const UNIT_INTERFACE = 'org.freedesktop.systemd1.Unit'
const PROPERTIES = 'org.freedesktop.DBus.Properties'

/** How long a start job may take: systemd's own DefaultTimeoutStartSec= ends it first. */
const START_JOB_TIMEOUT_MS = 120_000

/** The template instance that runs `name` (machinectl's make_service_name(), with our launchers). */
export function serviceUnitName(image: Pick<Image, 'name' | 'type' | 'path'>): string {
  return `${vmBootFiles(image) === undefined ? 'machined-spawn' : 'machined-vmspawn'}@${image.name}.service`
}

const UNITS_OF = (name: string): string[] => [`machined-spawn@${name}.service`, `machined-vmspawn@${name}.service`]

export class SystemdServices implements MachineServices {
  readonly #bus: SystemdBus
  readonly #jobs: JobWaiter

  constructor(bus: SystemdBus) {
    this.#bus = bus
    this.#jobs = new JobWaiter(bus)
  }

  async #manager(member: string, signature: string, body: readonly unknown[]): Promise<unknown[]> {
    try {
      return await this.#bus.call(SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, member, signature, body)
    } catch (err) {
      throw new FailedError(`${member} failed: ${(err as Error).message}`, { cause: err })
    }
  }

  async start(image: Image): Promise<Launch> {
    const unit = serviceUnitName(image)
    await this.#jobs.ready()
    // machinectl asks for "fail": a start that conflicts with a stop under way fails instead of cancelling it.
    const [job] = await this.#manager('StartUnit', 'ss', [unit, 'fail'])
    const result = typeof job === 'string' ? await this.#jobs.wait(job, START_JOB_TIMEOUT_MS) : 'done'
    if (result !== 'done') {
      return { ended: Promise.resolve(`Job for ${unit} failed (${result}); see "systemctl status ${unit}" and "journalctl -u ${unit}".`) }
    }
    // Once the job is done, systemd looks after the unit: whatever ends it is its business.
    return { ended: new Promise<string>(() => undefined) }
  }

  async runs(name: string): Promise<boolean> {
    for (const unit of UNITS_OF(name)) {
      const state = await this.#activeState(unit)
      if (state === 'active' || state === 'activating' || state === 'reloading') return true
    }
    return false
  }

  async #activeState(unit: string): Promise<string | undefined> {
    try {
      const [path] = await this.#bus.call(SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, 'GetUnit', 's', [unit])
      const [value] = await this.#bus.call(SYSTEMD, path as string, PROPERTIES, 'Get', 'ss', [UNIT_INTERFACE, 'ActiveState'])
      const v = value as { value?: unknown } | string
      return typeof v === 'string' ? v : typeof v.value === 'string' ? v.value : undefined
    } catch {
      return undefined // NoSuchUnit: not loaded, so not running
    }
  }

  async enable(image: Image): Promise<void> {
    // As machinectl: machines.target too, so that it is pulled in at boot; then the manager reloads.
    await this.#manager('EnableUnitFiles', 'asbb', [['machines.target', serviceUnitName(image)], false, false])
    await this.#manager('Reload', '', [])
  }

  async disable(name: string): Promise<void> {
    // One call per template: a template that is not installed fails its own call only.
    const failures: unknown[] = []
    for (const unit of UNITS_OF(name)) await this.#manager('DisableUnitFiles', 'asb', [[unit], false]).catch((err: unknown) => failures.push(err))
    if (failures.length === UNITS_OF(name).length) throw failures[0]
    await this.#manager('Reload', '', [])
  }

  async enabled(name: string): Promise<boolean> {
    for (const unit of UNITS_OF(name)) {
      try {
        const [state] = await this.#bus.call(SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, 'GetUnitFileState', 's', [unit])
        if (state === 'enabled' || state === 'enabled-runtime') return true
      } catch {
        // No such unit file: not enabled.
      }
    }
    return false
  }
}
