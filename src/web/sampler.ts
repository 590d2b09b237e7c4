/**
 * The page's live figures: every machine's cgroup read once a second,
 * CPU turned into a share of one CPU over the interval (as top shows it),
 * and the last HISTORY_LENGTH samples kept for the sparklines.
 * @module
 */

import type { CgroupLayout } from '../linux/cgroup-layout.ts'
import { readCgroupStats, type CgroupStats } from '../linux/cgroup-stats.ts'
import { locateUnitCgroups } from '../linux/unit-cgroup.ts'
import { HISTORY_LENGTH, type Sample, type SampleHistory } from './api-types.ts'

export interface SampledMachine {
  readonly name: string
  readonly unit: string
  readonly leader: number
}

interface Ring {
  t: number[]
  cpu: (number | null)[]
  memory: (number | null)[]
  tasks: (number | null)[]
}

const NO_STATS: CgroupStats = { cpuSeconds: undefined, memoryBytes: undefined, tasks: undefined, ioReadBytes: undefined, ioWriteBytes: undefined }

function push<T>(list: T[], value: T): void {
  list.push(value)
  if (list.length > HISTORY_LENGTH) list.shift()
}

export class Sampler {
  readonly #layout: CgroupLayout | undefined
  readonly #previous = new Map<string, { t: number; cpuSeconds: number | undefined }>()
  readonly #history = new Map<string, Ring>()

  /** `layout`: the host's cgroup hierarchies (undefined: none mounted, so no figures). */
  constructor(layout: CgroupLayout | undefined) {
    this.#layout = layout
  }

  /** The machine's figures right now, straight from its cgroup files. */
  read(m: SampledMachine): CgroupStats {
    if (this.#layout === undefined) return NO_STATS
    return readCgroupStats(locateUnitCgroups(this.#layout, m.unit, m.leader))
  }

  /** Samples every machine at time `t` (ms) and records the samples. */
  sample(machines: Iterable<SampledMachine>, t: number): Map<string, Sample> {
    const out = new Map<string, Sample>()
    for (const m of machines) {
      const stats = this.read(m)
      const before = this.#previous.get(m.name)
      let cpu: number | null = null
      if (before?.cpuSeconds !== undefined && stats.cpuSeconds !== undefined && t > before.t) {
        cpu = Math.max(0, ((stats.cpuSeconds - before.cpuSeconds) / ((t - before.t) / 1000)) * 100)
      }
      this.#previous.set(m.name, { t, cpuSeconds: stats.cpuSeconds })
      const sample: Sample = { cpu, memory: stats.memoryBytes ?? null, tasks: stats.tasks ?? null }
      let ring = this.#history.get(m.name)
      if (ring === undefined) this.#history.set(m.name, ring = { t: [], cpu: [], memory: [], tasks: [] })
      push(ring.t, t)
      push(ring.cpu, sample.cpu)
      push(ring.memory, sample.memory)
      push(ring.tasks, sample.tasks)
      out.set(m.name, sample)
    }
    return out
  }

  history(name: string): SampleHistory | undefined {
    const ring = this.#history.get(name)
    return ring === undefined ? undefined : { t: [...ring.t], cpu: [...ring.cpu], memory: [...ring.memory], tasks: [...ring.tasks] }
  }

  latest(name: string): Sample | undefined {
    const ring = this.#history.get(name)
    const last = ring === undefined ? -1 : ring.t.length - 1
    if (ring === undefined || last < 0) return undefined
    return { cpu: ring.cpu[last] ?? null, memory: ring.memory[last] ?? null, tasks: ring.tasks[last] ?? null }
  }

  forget(name: string): void {
    this.#previous.delete(name)
    this.#history.delete(name)
  }
}
