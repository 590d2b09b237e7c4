/**
 * /metrics in Prometheus's text format (prom-client), every figure read
 * from the machines' cgroups at scrape time. Each scrape starts from empty
 * series, so a machine that is gone leaves none behind. A registry of our
 * own, never prom-client's global one.
 * @module
 */

import { Counter, Gauge, Registry } from 'prom-client'
import type { MachineMetrics } from './source.ts'

const LABELS = ['machine', 'class', 'service'] as const

export class MachineMetricsRegistry {
  readonly #registry = new Registry()
  readonly #machines: Gauge<'class'>
  readonly #info: Gauge<'machine' | 'class' | 'service' | 'id' | 'unit' | 'leader'>
  readonly #tasks: Gauge<(typeof LABELS)[number]>
  readonly #cpu: Counter<(typeof LABELS)[number]>
  readonly #memory: Gauge<(typeof LABELS)[number]>
  readonly #ioRead: Counter<(typeof LABELS)[number]>
  readonly #ioWrite: Counter<(typeof LABELS)[number]>

  constructor() {
    const registers = [this.#registry]
    this.#machines = new Gauge({ name: 'machined_machines', help: 'Machines registered with machined, by class.', labelNames: ['class'], registers })
    this.#info = new Gauge({
      name: 'machined_machine_info', help: 'Always 1: the facts of each registered machine as labels.',
      labelNames: ['machine', 'class', 'service', 'id', 'unit', 'leader'], registers,
    })
    this.#tasks = new Gauge({ name: 'machined_machine_tasks', help: 'Tasks (threads) in the machine\'s cgroup.', labelNames: LABELS, registers })
    this.#cpu = new Counter({ name: 'machined_machine_cpu_seconds_total', help: 'CPU time used by the machine\'s cgroup.', labelNames: LABELS, registers })
    this.#memory = new Gauge({ name: 'machined_machine_memory_bytes', help: 'Memory charged to the machine\'s cgroup.', labelNames: LABELS, registers })
    this.#ioRead = new Counter({ name: 'machined_machine_io_read_bytes_total', help: 'Bytes read from block devices by the machine\'s cgroup.', labelNames: LABELS, registers })
    this.#ioWrite = new Counter({ name: 'machined_machine_io_write_bytes_total', help: 'Bytes written to block devices by the machine\'s cgroup.', labelNames: LABELS, registers })
  }

  get contentType(): string {
    return this.#registry.contentType
  }

  /** The exposition text for these figures. */
  async render(all: readonly MachineMetrics[]): Promise<string> {
    this.#registry.resetMetrics()
    // Both classes always, so "no VMs" is a 0 rather than a missing series.
    const byClass = new Map<string, number>([['container', 0], ['vm', 0]])
    for (const m of all) {
      const r = m.machine
      byClass.set(r.class, (byClass.get(r.class) ?? 0) + 1)
      const labels = { machine: r.name, class: r.class, service: r.service }
      this.#info.set({ ...labels, id: r.id, unit: r.unit, leader: String(r.leader) }, 1)
      if (m.tasks !== undefined) this.#tasks.set(labels, m.tasks)
      if (m.cpuSeconds !== undefined) this.#cpu.inc(labels, m.cpuSeconds)
      if (m.memoryBytes !== undefined) this.#memory.set(labels, m.memoryBytes)
      if (m.ioReadBytes !== undefined) this.#ioRead.inc(labels, m.ioReadBytes)
      if (m.ioWriteBytes !== undefined) this.#ioWrite.inc(labels, m.ioWriteBytes)
    }
    for (const [cls, n] of byClass) this.#machines.set({ class: cls }, n)
    return this.#registry.metrics()
  }
}
