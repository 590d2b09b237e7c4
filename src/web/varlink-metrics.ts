/**
 * io.machinedts.Metrics on a UNIX socket: the figures /metrics has, as one
 * Varlink method (plus org.varlink.service's introspection). The socket is
 * root's alone (mode 0600 in a 0700 directory), like the token beside it.
 * Calls on a connection are answered one after another; a message over
 * the size limit or that is no Varlink call closes the connection.
 * @module
 */

import { chmodSync, rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { METRICS_INTERFACE_IDL, METRICS_INTERFACE_NAME } from '../protocol/varlink/io.machinedts.Metrics.ts'
import { formatInterface } from '../protocol/varlink/idl.ts'
import { SERVICE_ERRORS, SERVICE_INTERFACE, SERVICE_INTERFACE_NAME } from '../protocol/varlink/org.varlink.service.ts'
import { FrameDecoder } from '../wire/varlink/framing.ts'
import type { MachineMetrics } from './source.ts'

const MAX_MESSAGE = 64 * 1024
const SERVICE_INTERFACE_IDL = formatInterface(SERVICE_INTERFACE)
const MAX_CONNECTIONS = 64

type Reply = { parameters: Record<string, unknown> } | { error: string; parameters: Record<string, unknown> }

export interface MetricsServiceOptions {
  readonly path: string
  readonly version: string
  readonly read: () => Promise<MachineMetrics[]>
}

function machineRecord(m: MachineMetrics): Record<string, unknown> {
  const r = m.machine
  return {
    name: r.name, class: r.class, service: r.service, id: r.id, unit: r.unit, leader: r.leader,
    tasks: m.tasks ?? null, cpuSeconds: m.cpuSeconds ?? null, memoryBytes: m.memoryBytes ?? null,
    ioReadBytes: m.ioReadBytes ?? null, ioWriteBytes: m.ioWriteBytes ?? null,
  }
}

function noParameters(p: Record<string, unknown>): Reply | undefined {
  const extra = Object.keys(p)[0]
  return extra === undefined ? undefined : { error: SERVICE_ERRORS.INVALID_PARAMETER, parameters: { parameter: extra } }
}

async function answer(o: MetricsServiceOptions, method: string, p: Record<string, unknown>): Promise<Reply> {
  switch (method) {
    case `${SERVICE_INTERFACE_NAME}.GetInfo`:
      return noParameters(p) ?? {
        parameters: { vendor: 'machined-ts', product: 'machined-web', version: o.version, url: '', interfaces: [SERVICE_INTERFACE_NAME, METRICS_INTERFACE_NAME] },
      }
    case `${SERVICE_INTERFACE_NAME}.GetInterfaceDescription`: {
      const name = p.interface
      if (typeof name !== 'string') return { error: SERVICE_ERRORS.INVALID_PARAMETER, parameters: { parameter: 'interface' } }
      if (name === SERVICE_INTERFACE_NAME) return { parameters: { description: SERVICE_INTERFACE_IDL } }
      if (name === METRICS_INTERFACE_NAME) return { parameters: { description: METRICS_INTERFACE_IDL } }
      return { error: SERVICE_ERRORS.INTERFACE_NOT_FOUND, parameters: { interface: name } }
    }
    case `${METRICS_INTERFACE_NAME}.List`:
      return noParameters(p) ?? { parameters: { machines: (await o.read()).map(machineRecord) } }
    default:
      return { error: SERVICE_ERRORS.METHOD_NOT_FOUND, parameters: { method } }
  }
}

function serve(o: MetricsServiceOptions, socket: Socket): void {
  const decoder = new FrameDecoder(MAX_MESSAGE)
  let queue = Promise.resolve()
  socket.on('error', () => socket.destroy())
  socket.on('data', (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) {
      if (frame.kind === 'oversized') { socket.destroy(); return }
      let call: { method?: unknown; parameters?: unknown; oneway?: unknown }
      try {
        call = JSON.parse(frame.bytes.toString('utf8')) as typeof call
      } catch {
        socket.destroy()
        return
      }
      const params = call.parameters ?? {}
      if (call === null || typeof call !== 'object' || typeof call.method !== 'string' || typeof params !== 'object' || params === null || Array.isArray(params)) {
        socket.destroy()
        return
      }
      const method = call.method
      const oneway = call.oneway === true
      queue = queue.then(async () => {
        const reply = await answer(o, method, params as Record<string, unknown>)
        if (!oneway && !socket.destroyed) socket.write(`${JSON.stringify(reply)}\0`)
      }).catch(() => { socket.destroy() })
    }
  })
}

/** Listens on `path` (a stale socket there is replaced); resolves once it serves. */
export async function startMetricsService(o: MetricsServiceOptions): Promise<{ close(): Promise<void> }> {
  rmSync(o.path, { force: true })
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    serve(o, socket)
  })
  server.maxConnections = MAX_CONNECTIONS
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.path, () => { server.off('error', reject); resolve() })
  })
  chmodSync(o.path, 0o600)
  return {
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      for (const s of sockets) s.destroy()
      rmSync(o.path, { force: true })
    }),
  }
}
