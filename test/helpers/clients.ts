/**
 * Clients for the reliability tests that need more than busctl and the
 * Python Varlink client can give quickly: thousands of pipelined calls,
 * fds, bytes that break the protocol. They run in the test process and
 * reach the sandbox's bus and Varlink socket through /proc/PID/root.
 */

import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { trackingHierarchy } from '../../src/linux/cgroup-layout.ts'
import { unitCgroupPath } from '../../src/linux/cgroup-paths.ts'
import { MACHINE_SLICE } from '../../src/protocol/unit-name.ts'
import { BusConnection, DBusError } from '../../src/wire/dbus/bus.ts'
import { Variant } from '../../src/wire/dbus/variant.ts'
import type { Sandbox } from './sandbox.ts'

export const DEST = 'org.freedesktop.machine1'
export const VARLINK_SOCKET = '/run/systemd/machine/io.systemd.Machine'

/** A connection to the sandbox's system bus, as root. */
export function busOf(sb: Sandbox): Promise<BusConnection> {
  return BusConnection.connect(`unix:path=${sb.hostPath('/run/dbus/system_bus_socket')}`, { watchNameOwners: false })
}

/** The D-Bus error name of a failed call, or 'ok'. */
export async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (err) {
    return err instanceof DBusError ? err.type : `local: ${(err as Error).message}`
  }
}

export function connectVarlink(sb: Sandbox, path = VARLINK_SOCKET): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(sb.hostPath(path))
    socket.once('connect', () => { socket.off('error', reject); resolve(socket) })
    socket.once('error', reject)
  })
}

/** Splits a Varlink byte stream into JSON frames. */
export class FrameReader {
  #pending: Buffer[] = []
  readonly frames: string[] = []

  push(chunk: Buffer): void {
    let start = 0
    for (let nul = chunk.indexOf(0); nul >= 0; nul = chunk.indexOf(0, start)) {
      this.#pending.push(chunk.subarray(start, nul))
      this.frames.push(Buffer.concat(this.#pending).toString('utf8'))
      this.#pending = []
      start = nul + 1
    }
    if (start < chunk.length) this.#pending.push(Buffer.from(chunk.subarray(start)))
  }
}

/** Calls over one Varlink connection, one at a time: each resolves to its final reply (or rejects if the connection ends). */
export class VarlinkCaller {
  readonly #socket: Socket
  readonly #reader = new FrameReader()
  readonly #waiting: { resolve: (reply: Record<string, unknown>) => void; reject: (err: Error) => void; frames: Record<string, unknown>[] }[] = []
  #closed = false

  private constructor(socket: Socket) {
    this.#socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#reader.push(chunk)
      for (const text of this.#reader.frames.splice(0)) {
        const frame = JSON.parse(text) as Record<string, unknown>
        const head = this.#waiting[0]
        if (head === undefined) continue
        head.frames.push(frame)
        if (frame.continues !== true) {
          this.#waiting.shift()
          head.resolve(frame)
        }
      }
    })
    const fail = (): void => {
      this.#closed = true
      for (const w of this.#waiting.splice(0)) w.reject(new Error('connection closed'))
    }
    socket.on('close', fail)
    socket.on('error', () => undefined)
  }

  static async connect(sb: Sandbox, path = VARLINK_SOCKET): Promise<VarlinkCaller> {
    return new VarlinkCaller(await connectVarlink(sb, path))
  }

  get closed(): boolean {
    return this.#closed
  }

  call(method: string, parameters: Record<string, unknown> = {}, flags: { more?: boolean } = {}): Promise<Record<string, unknown>> {
    if (this.#closed) return Promise.reject(new Error('connection closed'))
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject, frames: [] })
      this.#socket.write(`${JSON.stringify({ method, parameters, ...flags })}\0`)
    })
  }

  /** Every frame of a call with more (the last one without continues). */
  async stream(method: string, parameters: Record<string, unknown> = {}): Promise<Record<string, unknown>[]> {
    if (this.#closed) throw new Error('connection closed')
    return new Promise((resolve, reject) => {
      const entry = { resolve: () => resolve(entry.frames), reject, frames: [] as Record<string, unknown>[] }
      this.#waiting.push(entry)
      this.#socket.write(`${JSON.stringify({ method, parameters, more: true })}\0`)
    })
  }

  close(): void {
    this.#socket.destroy()
  }
}

function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return `${x}n`
    if (x instanceof Variant) return { sig: x.signature, value: x.value as unknown }
    if (x !== null && typeof x === 'object' && (x as { type?: string }).type === 'Buffer') return (x as { data: number[] }).data.join(',')
    return x
  })
}

/**
 * Everything a client or a tool could see of the registered machines, as
 * root: every property over D-Bus, Varlink List, the state directory and
 * the processes in each machine's scope. Equal snapshots: nothing changed.
 */
export async function registrySnapshot(sb: Sandbox, bus: BusConnection): Promise<string> {
  const [rows] = await bus.call(DEST, '/org/freedesktop/machine1', 'org.freedesktop.machine1.Manager', 'ListMachines', '', []) as [[string, string, string, string][]]
  const dbus: Record<string, unknown> = {}
  for (const [name, , , path] of [...rows].sort((a, b) => a[0].localeCompare(b[0]))) {
    dbus[name] = (await bus.call(DEST, path, 'org.freedesktop.DBus.Properties', 'GetAll', 's', ['']))[0]
  }
  const vl = await VarlinkCaller.connect(sb)
  const listed = (await vl.stream('io.systemd.Machine.List')).map((f) => f.parameters as { name: string }).sort((a, b) => a.name.localeCompare(b.name))
  vl.close()
  const dir = sb.hostPath('/run/systemd/machines')
  const files: Record<string, string> = {}
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f)
    files[f] = lstatSync(p).isSymbolicLink() ? `-> ${readlinkSync(p)}` : readFileSync(p, 'utf8')
  }
  const scopes: Record<string, string> = {}
  const tracking = trackingHierarchy(sb.cgroupLayout)!
  for (const [name, props] of Object.entries(dbus)) {
    const unit = ((props as Record<string, Variant>).Unit?.value as string | undefined) ?? ''
    const procs = sb.hostPath(join(tracking, unitCgroupPath(MACHINE_SLICE, unit), 'cgroup.procs'))
    scopes[name] = unit.startsWith('machine-') && existsSync(procs) ? readFileSync(procs, 'utf8') : 'none'
  }
  return stable({ dbus, listed, files, scopes })
}
