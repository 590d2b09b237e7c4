/**
 * Deterministic generators of hostile input for the fuzz tests: D-Bus
 * calls that dbus-daemon lets through (valid framing, any signature, any
 * values: wrong types, huge strings and arrays, deep variants, bad machine
 * names, object paths of no object, fds that are no pidfd) and Varlink
 * messages (well-formed calls with random parameters, and raw protocol
 * violations: broken JSON, invalid UTF-8, frames cut off, oversized).
 *
 * Two rules keep the fuzzer from doing real harm, because it runs as root:
 * a registration never names a process that exists (its leader is a PID
 * no kernel hands out, never 0, which would be the fuzzer itself), and a
 * call that could stop or forget a machine, or start a session in one (a
 * login or a shell, on the host too), never names a real one with
 * arguments that would pass.
 */

import { openSync } from 'node:fs'
import { MACHINE_INTERFACE, MANAGER_INTERFACE, inSignature, type InterfaceDescription } from '../../src/protocol/dbus/org.freedesktop.machine1.ts'
import { parseSignature, type DBusType } from '../../src/wire/dbus/signature.ts'
import { Variant } from '../../src/wire/dbus/variant.ts'

export type Rand = () => number

/** mulberry32: small and deterministic, so a failure can be replayed from its seed. */
export function prng(seed: number): Rand {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const pick = <T>(rand: Rand, list: readonly T[]): T => list[Math.floor(rand() * list.length)]!
const int = (rand: Rand, lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1))

/** PIDs above any pid_max (2^22): valid as pid_t, never a process. */
export function phantomPid(rand: Rand): number {
  return int(rand, 0x3fff0000, 0x3fffffff)
}

const MUTATING = new Set([
  'CreateMachine', 'CreateMachineWithNetwork', 'RegisterMachine', 'RegisterMachineWithNetwork', 'CreateMachineEx', 'RegisterMachineEx',
  'UnregisterMachine', 'TerminateMachine', 'KillMachine', 'Terminate', 'Kill',
  // They write files and mount: never on a real machine.
  'CopyToMachine', 'CopyFromMachine', 'CopyToMachineWithFlags', 'CopyFromMachineWithFlags', 'BindMountMachine',
  'CopyTo', 'CopyFrom', 'CopyToWithFlags', 'CopyFromWithFlags', 'BindMount',
  ...['OpenMachinePTY', 'OpenMachineLogin', 'OpenMachineShell', 'OpenPTY', 'OpenLogin', 'OpenShell'],
])
/** Manager methods that start something in the machine they name: never ".host" with a passing signature. */
const ENTERING = new Set(['OpenMachinePTY', 'OpenMachineLogin', 'OpenMachineShell'])
const REGISTERING = new Set(['CreateMachine', 'CreateMachineWithNetwork', 'RegisterMachine', 'RegisterMachineWithNetwork'])
const REGISTERING_EX = new Set(['CreateMachineEx', 'RegisterMachineEx'])

const BASIC_CODES = 'ybnqiuxtdsog'

/** `huge`: whether this string may be huge (only one per message, so messages stay within the bus's limits). */
function randomString(rand: Rand, names: readonly string[], huge = false): string {
  const r = rand()
  if (r < 0.15 && names.length > 0) return pick(rand, names)
  if (r < 0.25) return ''
  if (r < 0.3) return huge ? 'x'.repeat(int(rand, 60_000, 1_100_000)) : 'y'.repeat(int(rand, 256, 4096))
  if (r < 0.4) return pick(rand, ['.host', 'foo_bar', '-x', 'a..b', 'ünïcödé', 'a'.repeat(65), 'machine', 'fz-ok', '/', '..', 'leader', 'all', 'container', 'vm', 'host'])
  if (r < 0.5) return String.fromCodePoint(...Array.from({ length: int(rand, 1, 40) }, () => int(rand, 1, 0x2000)).filter((c) => c < 0xd800 || c > 0xdfff))
  if (r < 0.55) return Array.from({ length: int(rand, 1, 30) }, () => String.fromCharCode(int(rand, 1, 31))).join('')
  return `fz-${Math.floor(rand() * 1e9).toString(36)}`
}

function randomPath(rand: Rand, paths: readonly string[]): string {
  const r = rand()
  if (r < 0.3 && paths.length > 0) return pick(rand, paths)
  if (r < 0.4) return '/'
  if (r < 0.5) return '/org/freedesktop/machine1/machine/self'
  if (r < 0.6) return `/org/freedesktop/machine1/machine/${pick(rand, ['_', '_zz', '_2', '_2ehost', 'a_2d_2d', '_ff_fe', 'x'.repeat(300)])}`
  if (r < 0.7) return '/org/freedesktop/machine1/image/anything'
  const parts = Array.from({ length: int(rand, 1, 6) }, () => Array.from({ length: int(rand, 1, 8) }, () => pick(rand, [...'abcXYZ019_'])).join(''))
  return `/${parts.join('/')}`
}

function randomSignature(rand: Rand, depth = 0): string {
  const r = rand()
  if (depth > 3 || r < 0.55) return pick(rand, [...BASIC_CODES])
  if (r < 0.7) return `a${randomSignature(rand, depth + 1)}`
  if (r < 0.8) return `a{${pick(rand, [...'sui'])}${randomSignature(rand, depth + 1)}}`
  if (r < 0.92) return `(${Array.from({ length: int(rand, 1, 3) }, () => randomSignature(rand, depth + 1)).join('')})`
  return 'v'
}

interface ValueContext {
  readonly rand: Rand
  readonly names: readonly string[]
  readonly paths: readonly string[]
  /** Every fd put in a message goes here; the connection owns them once sent. */
  readonly fds: number[]
}

function value(ctx: ValueContext, t: DBusType, depth: number): unknown {
  const { rand } = ctx
  switch (t.code) {
    case 'y': return int(rand, 0, 255)
    case 'b': return rand() < 0.5
    case 'n': return int(rand, -32768, 32767)
    case 'q': return int(rand, 0, 65535)
    case 'i': return pick(rand, [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 15, 9, 65, int(rand, -1000, 1000)])
    case 'u': return pick(rand, [0, 1, 2 ** 32 - 1, 2 ** 31, phantomPid(rand), int(rand, 0, 100000)])
    case 'x': return pick(rand, [0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), BigInt(int(rand, -1e6, 1e6))])
    case 't': return pick(rand, [0n, 1n, 2n ** 64n - 1n, BigInt(int(rand, 0, 1e9))])
    case 'd': return pick(rand, [0, -0, 1.5, Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY, rand()])
    case 's': return randomString(rand, ctx.names, depth === 0)
    case 'o': return randomPath(rand, ctx.paths)
    case 'g': return depth > 2 ? '' : randomSignature(rand)
    case 'h': {
      // An fd that is no pidfd (LeaderPIDFD must refuse it).
      const fd = openSync('/dev/null', 'r')
      ctx.fds.push(fd)
      return fd
    }
    case 'v': {
      // Deep variants now and then: nested to about half the depth (64) the specification allows: dbus-daemon drops a client that goes past it.
      if (depth < 24 && rand() < 0.3) return new Variant('v', value(ctx, { code: 'v', signature: 'v', alignment: 1 }, depth + 1))
      const sig = randomSignature(rand)
      const parsed = parseSignature(sig)
      if ('error' in parsed) return new Variant('s', 'x')
      return new Variant(sig, value(ctx, parsed.types[0]!, depth + 1))
    }
    case 'a': {
      const el = t.element
      const big = depth === 0 && rand() < 0.02
      const n = big ? int(rand, 10_000, 200_000) : int(rand, 0, 4)
      if (el.code === 'y') return Buffer.alloc(big ? n * 4 : n === 3 ? 16 : n, int(rand, 0, 255))
      if (el.code === '{') {
        const out = new Map<unknown, unknown>()
        for (let i = 0; i < (big ? 200 : n); i++) out.set(value(ctx, el.fields[0], depth + 1), value(ctx, el.fields[1], depth + 1))
        return out
      }
      if (big && el.code !== 'u' && el.code !== 'i' && el.code !== 'b') return []
      return Array.from({ length: n }, () => value(ctx, el, depth + 1))
    }
    case '(': return t.fields.map((f) => value(ctx, f, depth + 1))
    case '{': return [value(ctx, t.fields[0], depth + 1), value(ctx, t.fields[1], depth + 1)]
  }
}

function values(ctx: ValueContext, signature: string): unknown[] {
  const parsed = parseSignature(signature)
  if ('error' in parsed) throw new Error(`bad signature ${signature}`)
  return parsed.types.map((t) => value(ctx, t, 0))
}

export interface FuzzCall {
  readonly path: string
  readonly interface: string
  readonly member: string
  readonly signature: string
  readonly body: unknown[]
}

/** Properties of CreateMachineEx/RegisterMachineEx, with values of the right and the wrong types. */
const EX_KEYS = ['Id', 'Service', 'Class', 'LeaderPID', 'LeaderPIDFD', 'LeaderPIDFDID', 'RootDirectory', 'NetworkInterfaces', 'VSockCID', 'SSHAddress', 'SSHPrivateKeyPath', 'Bogus']

export class DbusFuzzer {
  readonly #rand: Rand
  readonly #names: readonly string[]
  readonly #paths: readonly string[]

  /** `names`/`paths`: real machines, used only where no harm can come of it. */
  constructor(rand: Rand, real: { names: readonly string[]; paths: readonly string[] }) {
    this.#rand = rand
    this.#names = real.names
    this.#paths = real.paths
  }

  /** The next call; fds put in it are listed in `fds` (the connection closes them once sent). */
  next(fds: number[]): FuzzCall {
    const rand = this.#rand
    const r = rand()
    let iface: InterfaceDescription | undefined
    let path: string
    if (r < 0.45) {
      iface = MANAGER_INTERFACE
      path = rand() < 0.9 ? '/org/freedesktop/machine1' : randomPath(rand, this.#paths)
    } else if (r < 0.65) {
      iface = MACHINE_INTERFACE
      path = randomPath(rand, this.#paths)
    } else if (r < 0.8) {
      path = randomPath(rand, this.#paths)
      const member = pick(rand, ['Get', 'GetAll', 'Set', 'Frob'])
      const signature = rand() < 0.7 ? pick(rand, ['ss', 's', 'ssv', '', 'su', 'sss']) : randomSignature(rand)
      const iname = pick(rand, ['org.freedesktop.machine1.Machine', 'org.freedesktop.machine1.Manager', '', 'org.freedesktop.DBus.Properties', 'x.y'])
      const ctx: ValueContext = { rand, names: [iname, 'Name', 'RootDirectory', 'Leader', 'PoolPath', 'Bogus', ...this.#names], paths: this.#paths, fds }
      return { path, interface: 'org.freedesktop.DBus.Properties', member, signature, body: values(ctx, signature) }
    } else if (r < 0.9) {
      path = randomPath(rand, this.#paths)
      const iface2 = pick(rand, ['org.freedesktop.DBus.Introspectable', 'org.freedesktop.DBus.Peer'])
      const member = pick(rand, ['Introspect', 'Ping', 'GetMachineId', 'Nope'])
      const signature = rand() < 0.8 ? '' : randomSignature(rand)
      return { path, interface: iface2, member, signature, body: values({ rand, names: this.#names, paths: this.#paths, fds }, signature) }
    } else {
      path = randomPath(rand, this.#paths)
      const signature = randomSignature(rand)
      return {
        path, interface: pick(rand, ['org.freedesktop.machine1.Nope', 'com.example.X', 'org.freedesktop.machine1.Image']),
        member: pick(rand, ['Frobnicate', 'GetMachine', 'Remove', 'A']), signature, body: values({ rand, names: this.#names, paths: this.#paths, fds }, signature),
      }
    }
    const method = pick(rand, iface.methods)
    const correct = inSignature(method)
    const signature = rand() < 0.65 ? correct : rand() < 0.2 ? '' : Array.from({ length: int(rand, 1, 4) }, () => randomSignature(rand)).join('')
    const mutating = MUTATING.has(method.name)
    // Real machine names only where nothing can change: read-only methods, or the right signature can never pass.
    const names = mutating ? [] : this.#names
    const body = values({ rand, names, paths: this.#paths, fds }, signature)
    if (signature === correct) this.#defuse(method.name, body, fds)
    return { path: iface === MACHINE_INTERFACE && mutating && signature === correct ? this.#harmlessPath(path) : path, interface: iface.name, member: method.name, signature, body }
  }

  /** Machine.Terminate, Kill, Copy* and BindMount calls that would pass go to an object that is no real machine. */
  #harmlessPath(path: string): string {
    return this.#paths.includes(path) ? '/org/freedesktop/machine1/machine/fz_2dnone' : path
  }

  /** A call with the right signature: make sure it cannot register, stop or forget anything real. */
  #defuse(member: string, body: unknown[], fds: number[]): void {
    const rand = this.#rand
    if (ENTERING.has(member)) {
      if (body[0] === '.host') body[0] = 'fz-none'
    } else if (REGISTERING.has(member)) {
      // name, id, service, class, leader, ...: the leader is a PID no process has (never 0, the fuzzer itself).
      body[4] = phantomPid(rand)
    } else if (REGISTERING_EX.has(member)) {
      const props = (body[1] as [string, Variant][]).filter(([k]) => k !== 'LeaderPID' && k !== 'LeaderPIDFD' && k !== 'LeaderPIDFDID')
      for (let i = 0; i < int(rand, 0, 4); i++) {
        const key = pick(rand, EX_KEYS)
        if (!key.startsWith('Leader')) props.push([key, exValue(rand, key)])
      }
      if (rand() < 0.15) {
        // An fd that is no pidfd as LeaderPIDFD: refused, whatever else the call says.
        const fd = openSync('/dev/null', 'r')
        fds.push(fd)
        props.push(['LeaderPIDFD', new Variant('h', fd)])
      } else {
        props.push(['LeaderPID', new Variant('u', phantomPid(rand))])
      }
      if (rand() < 0.2) props.push(['LeaderPIDFDID', new Variant('t', BigInt(int(rand, 1, 1e6)))])
      body[1] = props
    }
  }
}

function exValue(rand: Rand, key: string): Variant {
  switch (key) {
    case 'Id': return new Variant('ay', Buffer.alloc(pick(rand, [0, 15, 16, 17]), 7))
    case 'NetworkInterfaces': return new Variant('ai', [int(rand, -5, 5)])
    case 'VSockCID': return new Variant('u', pick(rand, [0, 1, 2, 3, 2 ** 32 - 1]))
    case 'Class': return new Variant('s', pick(rand, ['container', 'vm', 'host', '', 'toaster']))
    case 'RootDirectory': return new Variant('s', pick(rand, ['', '/', 'rel', '/a/../b']))
    default: return rand() < 0.5 ? new Variant('s', 'x') : new Variant('u', 7)
  }
}

// ── Varlink ────────────────────────────────────────────────────────────────

const VARLINK_METHODS = [
  'io.systemd.Machine.Register', 'io.systemd.Machine.Unregister', 'io.systemd.Machine.Terminate', 'io.systemd.Machine.Kill',
  'io.systemd.Machine.List', 'io.systemd.Machine.Open', 'io.systemd.Machine.OpenRootDirectory', 'io.systemd.Machine.BindMount',
  'io.systemd.Machine.CopyFrom', 'io.systemd.Machine.CopyTo', 'io.systemd.Machine.MapFrom', 'io.systemd.Machine.MapTo',
  'org.varlink.service.GetInfo', 'org.varlink.service.GetInterfaceDescription', 'io.systemd.Machine.Nope', 'com.example.X.Y', '', 'io.systemd.Machine',
]
const VARLINK_KEYS = [
  'name', 'id', 'service', 'class', 'leader', 'leaderProcessId', 'rootDirectory', 'ifIndices', 'vSockCid', 'sshAddress', 'sshPrivateKeyPath',
  'allocateUnit', 'pid', 'signal', 'whom', 'acquireMetadata', 'mode', 'user', 'path', 'args', 'environment', 'source', 'destination',
  'readOnly', 'mkdir', 'uid', 'gid', 'interface', 'allowInteractiveAuthentication', 'bogus',
]
const VARLINK_MUTATING = new Set([
  'io.systemd.Machine.Unregister', 'io.systemd.Machine.Terminate', 'io.systemd.Machine.Kill',
  'io.systemd.Machine.CopyFrom', 'io.systemd.Machine.CopyTo', 'io.systemd.Machine.BindMount',
])

function jsonValue(rand: Rand, names: readonly string[], depth = 0): unknown {
  const r = rand()
  if (r < 0.2) return randomString(rand, names)
  if (r < 0.35) return pick(rand, [0, 1, -1, 2 ** 31, 2 ** 53, -(2 ** 63), 1e300, 0.5, 15, 65, phantomPid(rand)])
  if (r < 0.4) return pick(rand, ['12', '-1', '9007199254740993', '0x10', ' 5'])
  if (r < 0.5) return rand() < 0.5
  if (r < 0.6) return null
  if (depth > 3) return 'deep'
  if (r < 0.75) return Array.from({ length: int(rand, 0, 4) }, () => jsonValue(rand, names, depth + 1))
  if (r < 0.85) return { pid: pick(rand, [0, 1, -5, phantomPid(rand), 'x']), ...(rand() < 0.5 ? { pidfdId: int(rand, 0, 1e6) } : {}), ...(rand() < 0.3 ? { bootId: pick(rand, ['00112233445566778899aabbccddeeff', 'nope', 5]) } : {}) }
  return Object.fromEntries(Array.from({ length: int(rand, 0, 3) }, () => [pick(rand, VARLINK_KEYS), jsonValue(rand, names, depth + 1)]))
}

export type VarlinkFuzz =
  /** A well-formed call (its own frame, NUL included); `final` is whether a final reply must come. */
  | { readonly kind: 'call'; readonly bytes: Buffer; readonly final: boolean }
  /** A protocol violation, sent on a connection of its own, which the server must close. */
  | { readonly kind: 'violation'; readonly bytes: Buffer; readonly endAfter: boolean }

export class VarlinkFuzzer {
  readonly #rand: Rand
  readonly #names: readonly string[]

  constructor(rand: Rand, real: { names: readonly string[] }) {
    this.#rand = rand
    this.#names = real.names
  }

  next(violationRate: number): VarlinkFuzz {
    const rand = this.#rand
    if (rand() < violationRate) return this.#violation()
    const method = pick(rand, VARLINK_METHODS)
    const mutating = VARLINK_MUTATING.has(method)
    const names = mutating ? [] : this.#names
    const parameters: Record<string, unknown> = {}
    for (let i = 0; i < int(rand, 0, 5); i++) parameters[pick(rand, VARLINK_KEYS)] = jsonValue(rand, names)
    if (method === 'io.systemd.Machine.Register') {
      // A leader no process has, never absent (the caller would lead: the fuzzer itself).
      if (rand() < 0.5) parameters.leader = phantomPid(rand)
      else parameters.leaderProcessId = { pid: phantomPid(rand) }
      if (rand() < 0.5) { parameters.name = `fz-${Math.floor(rand() * 1e9).toString(36)}`; parameters.class = pick(rand, ['container', 'vm']) }
    }
    if (mutating) {
      // A pid lookup only of processes that cannot exist (0 is the fuzzer's own machine: none).
      if ('pid' in parameters) parameters.pid = rand() < 0.5 ? 0 : { pid: phantomPid(rand) }
      if (method === 'io.systemd.Machine.Kill' && rand() < 0.3) {
        // A real machine, with a signal that can never pass (a name is a signal too, as sd_json_dispatch_signal() reads one: not these).
        parameters.name = pick(rand, this.#names.length > 0 ? this.#names : ['fz-none'])
        parameters.signal = pick(rand, [0, 65, -1, 'SIGFOO', 'term', '0x41', 1.5])
        delete parameters.pid
      }
    }
    const more = method.endsWith('.List') && rand() < 0.5
    const oneway = !more && rand() < 0.1
    const message: Record<string, unknown> = { method, parameters }
    if (more) message.more = true
    if (oneway) message.oneway = true
    if (rand() < 0.05) message.parameters = null
    return { kind: 'call', bytes: Buffer.from(`${JSON.stringify(message)}\0`), final: !oneway }
  }

  #violation(): VarlinkFuzz {
    const rand = this.#rand
    const good = Buffer.from(JSON.stringify({ method: 'io.systemd.Machine.List', parameters: { name: '.host' } }))
    switch (int(rand, 0, 9)) {
      case 0: return { kind: 'violation', bytes: Buffer.from('{"method": "io.systemd.Machine.List", "parameters": {\0'), endAfter: false }
      case 1: return { kind: 'violation', bytes: Buffer.concat([Buffer.from('{"method":"'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('"}\0')]), endAfter: false }
      case 2: return { kind: 'violation', bytes: Buffer.from(`${pick(rand, ['[1,2]', '"x"', '5', 'null', 'true'])}\0`), endAfter: false }
      case 3: return { kind: 'violation', bytes: Buffer.from('{"method":"io.systemd.Machine.List","parameters":{},"more":true,"oneway":true}\0'), endAfter: false }
      case 4: return { kind: 'violation', bytes: Buffer.from('{"method":"io.systemd.Machine.List","extra":1}\0'), endAfter: false }
      case 5: return { kind: 'violation', bytes: Buffer.from(`${'['.repeat(int(rand, 5000, 200_000))}\0`), endAfter: false }
      case 6: return { kind: 'violation', bytes: good.subarray(0, int(rand, 1, good.length - 1)), endAfter: true }
      case 7: return { kind: 'violation', bytes: Buffer.from('{"method":5}\0'), endAfter: false }
      case 8: return { kind: 'violation', bytes: Buffer.from('{"parameters":{}}\0'), endAfter: false }
      default: return { kind: 'violation', bytes: Buffer.from(`{"method":"io.systemd.Machine.List","parameters":{"name":"${'x'.repeat(int(rand, 100, 10_000))}`), endAfter: true }
    }
  }
}
