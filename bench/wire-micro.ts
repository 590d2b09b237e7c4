/**
 * Micro-benchmark of the D-Bus wire code alone (no sockets): encode and
 * decode the messages the pair and ListMachines benchmarks exchange.
 *
 *   node --import tsx bench/wire-micro.ts [--machines=10000]
 */
import { parseArgs } from 'node:util'
import { Writer } from '../src/wire/dbus/writer.ts'
import { decodeMessage, encodeMessage, encodeStandalone, methodCall, methodReturn, signal } from '../src/wire/dbus/message.ts'

const { values } = parseArgs({ options: { machines: { type: 'string', default: '10000' } } })
const machines = Number(values.machines)

function time(label: string, iterations: number, f: () => void): void {
  for (let i = 0; i < Math.min(iterations, 1000); i++) f()
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) f()
  const ns = Number(process.hrtime.bigint() - t0) / iterations
  console.log(`${label.padEnd(52)} ${ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1e3).toFixed(2)} µs`}`)
}

const register = methodCall({
  destination: 'org.freedesktop.machine1', path: '/org/freedesktop/machine1', interface: 'org.freedesktop.machine1.Manager',
  member: 'RegisterMachine', signature: 'sayssus', body: ['bench-12345-1', Buffer.alloc(0), 'bench', 'container', 4242, ''],
})
const reply = methodReturn({ serial: 7, sender: ':1.42' }, 'o', ['/org/freedesktop/machine1/machine/bench_2d12345_2d1'])
const newSignal = signal('/org/freedesktop/machine1', 'org.freedesktop.machine1.Manager', 'MachineNew', 'so', ['bench-12345-1', '/org/freedesktop/machine1/machine/bench_2d12345_2d1'])
const list = methodReturn({ serial: 9, sender: ':1.42' }, 'a(ssso)', [
  Array.from({ length: machines }, (_, i) => [`bench-12345-${i}`, 'container', 'bench', `/org/freedesktop/machine1/machine/bench_2d12345_2d${i}`]),
])

const w = new Writer()
const encode = (m: Parameters<typeof encodeMessage>[1]) => () => { encodeMessage(w, m, 1); w.take() }
time('encode RegisterMachine call', 200_000, encode(register))
time('encode reply (o) + MachineNew signal', 200_000, () => { encodeMessage(w, reply, 2); encodeMessage(w, newSignal, 3); w.take() })
time(`encode ListMachines reply, ${machines} machines`, 50, encode(list))

const registerBytes = encodeStandalone(register, 1).data
const listBytes = encodeStandalone(list, 1).data
time('decode RegisterMachine call', 200_000, () => decodeMessage(registerBytes, 0, registerBytes.length))
time(`decode ListMachines reply, ${machines} machines`, 50, () => decodeMessage(listBytes, 0, listBytes.length))
