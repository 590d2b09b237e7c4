/**
 * io.machinedts.Metrics: machined-web's per-machine figures (the same ones
 * /metrics has) for tools that would rather call a method than scrape
 * text. Served by machined-web on /run/machined-web/io.machinedts.Metrics
 * (root only). docs/web.md describes it.
 * @module
 */

import { formatInterface, type VarlinkInterface } from './idl.ts'

export const METRICS_INTERFACE_NAME = 'io.machinedts.Metrics'

export const METRICS_INTERFACE: VarlinkInterface = {
  name: METRICS_INTERFACE_NAME,
  comment: 'Resource figures of every machine registered with machined on this host,\nread from each machine\'s cgroup when asked.',
  symbols: [
    {
      kind: 'struct', name: 'Machine',
      fields: [
        { name: 'name', type: 'string', comment: 'The machine\'s name.' },
        { name: 'class', type: 'string', comment: '"container" or "vm".' },
        { name: 'service', type: 'string', comment: 'Who registered it.' },
        { name: 'id', type: 'string', comment: '128-bit ID as 32 hex digits, empty for none.' },
        { name: 'unit', type: 'string', comment: 'The scope (or service) it runs in.' },
        { name: 'leader', type: 'int', comment: 'PID of its leader on the host.' },
        { name: 'tasks', type: 'int', nullable: true, comment: 'Tasks (threads) in its cgroup.' },
        { name: 'cpuSeconds', type: 'float', nullable: true, comment: 'CPU time its cgroup used, in seconds.' },
        { name: 'memoryBytes', type: 'int', nullable: true, comment: 'Memory charged to its cgroup; null where the host does not account it per machine.' },
        { name: 'ioReadBytes', type: 'int', nullable: true, comment: 'Bytes read from block devices; null without io accounting.' },
        { name: 'ioWriteBytes', type: 'int', nullable: true, comment: 'Bytes written to block devices; null without io accounting.' },
      ],
    },
    {
      kind: 'method', name: 'List',
      comment: 'Every registered machine (containers and VMs) with its figures, read now.',
      input: [],
      output: [{ name: 'machines', type: 'Machine', array: true }],
    },
  ],
}

export const METRICS_INTERFACE_IDL = formatInterface(METRICS_INTERFACE)
