/**
 * Waiting for a systemd job to finish. StartTransientUnit answers with the
 * job's path as soon as the job is queued; the scope exists, with the
 * leader moved into it, only once PID 1 sends JobRemoved for that job.
 * systemd-machined therefore answers CreateMachine only then
 * (machined-dbus.c: the reply is sent from match_job_removed()), and
 * clients rely on it: libvirt reads the leader's cgroup right after the
 * reply and gives up ("No valid cgroup for machine") when it is not the
 * scope's yet.
 * @module
 */

/** JobRemoved's "result": "done", or why the job ended otherwise (canceled, timeout, failed, dependency, skipped). */
export type JobResult = string

export interface JobSignals {
  subscribe(rule: string, callback: (signal: { readonly path: string; readonly interface: string; readonly member: string; readonly body: readonly unknown[] }) => void): Promise<void>
}

const JOB_REMOVED_RULE = "type='signal',sender='org.freedesktop.systemd1',path='/org/freedesktop/systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'"
/** Results kept for jobs nobody waits for yet: a JobRemoved may be read before the reply naming its job is handled. */
const RECENT_MAX = 256

export class JobWaiter {
  readonly #bus: JobSignals
  #subscribed: Promise<void> | undefined
  readonly #waiting = new Map<string, (result: JobResult) => void>()
  readonly #recent = new Map<string, JobResult>()

  constructor(bus: JobSignals) {
    this.#bus = bus
  }

  /** Subscribes to JobRemoved (once): call before queuing the job, so its end cannot be missed. */
  ready(): Promise<void> {
    this.#subscribed ??= this.#bus.subscribe(JOB_REMOVED_RULE, (signal) => {
      if (signal.interface !== 'org.freedesktop.systemd1.Manager' || signal.member !== 'JobRemoved') return
      const [, job, , result] = signal.body
      if (typeof job !== 'string' || typeof result !== 'string') return
      const waiter = this.#waiting.get(job)
      if (waiter !== undefined) { this.#waiting.delete(job); waiter(result); return }
      this.#recent.set(job, result)
      if (this.#recent.size > RECENT_MAX) this.#recent.delete(this.#recent.keys().next().value!)
    }).catch((err: unknown) => {
      this.#subscribed = undefined
      throw err
    })
    return this.#subscribed
  }

  /** The job's result once it is removed; "timeout" when PID 1 says nothing within `timeoutMs`. */
  wait(job: string, timeoutMs: number): Promise<JobResult> {
    const early = this.#recent.get(job)
    if (early !== undefined) { this.#recent.delete(job); return Promise.resolve(early) }
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.#waiting.delete(job); resolve('timeout') }, timeoutMs)
      this.#waiting.set(job, (result) => { clearTimeout(timer); resolve(result) })
    })
  }
}
