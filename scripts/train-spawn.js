// The training run behind machined-spawn's code cache (scripts/build-bins.js).
// A real run boots a container, which a build cannot do (it needs root, a
// tree and namespaces), so the training runs the steps of a boot up to the
// container's clone that touch nothing of the host's, through the
// functions the bundle exports: the command line of `-D TREE -b`, finding
// the root, the look into a made-up tree, the encoded mount plan,
// and the registration (the bus handshake, NameHasOwner, GetMachine,
// CreateMachineWithNetwork, UnregisterMachine) against a stand-in bus
// (./train-bus.js). V8 compiles a function when it first runs, so the
// cache then holds these as well as the bundle's top level.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { standInBus } from './train-bus.js'

const MACHINE = 'train'
const MACHINE_PATH = `/org/freedesktop/machine1/machine/${MACHINE}`

/** A tree with what the look into it reads: os-release, an empty machine-id, an init to find. */
function madeUpTree(dir) {
  for (const d of ['etc', 'usr/lib/systemd', 'bin']) mkdirSync(join(dir, d), { recursive: true })
  writeFileSync(join(dir, 'etc/os-release'), 'ID=debian\nVERSION_ID=12\n')
  writeFileSync(join(dir, 'etc/machine-id'), '')
  writeFileSync(join(dir, 'usr/lib/systemd/systemd'), '')
  chmodSync(join(dir, 'usr/lib/systemd/systemd'), 0o755)
}

export async function train(spawn, { root }) {
  const { parseCommandLine, resolveConsoleMode, resolveRoot, prepare, hostLayout, encodedPlan, reachMachined, registerContainer, unregisterContainer, interpretExit } = spawn
  const dir = mkdtempSync(join(tmpdir(), 'machined-spawn-train-'))
  const bus = await standInBus(root, (call, reply) => {
    switch (call.member) {
      case 'NameHasOwner': return reply.ok('b', [true])
      case 'GetMachine': return reply.error('org.freedesktop.machine1.NoSuchMachine', `No machine '${call.body[0]}' known`)
      case 'CreateMachineWithNetwork': return reply.ok('o', [MACHINE_PATH])
      case 'UnregisterMachine': return reply.ok('', [])
      default: return false
    }
  })
  const saved = process.env
  process.env = { PATH: saved.PATH, LANG: 'C.UTF-8', DBUS_SYSTEM_BUS_ADDRESS: bus.address }
  try {
    const tree = join(dir, 'tree')
    madeUpTree(tree)
    const parsed = parseCommandLine(['-D', tree, '-M', MACHINE, '-b'], process.env)
    if (parsed.kind !== 'run') throw new Error(`the training's command line parsed as ${parsed.kind}`)
    const { options } = parsed
    const consoleMode = resolveConsoleMode(options.console, options.boot, false)
    const reaching = reachMachined(MACHINE)
    const containerRoot = await resolveRoot(options)
    const prepared = await prepare(options, containerRoot, consoleMode !== 'pipe')
    const machined = await reaching
    try { hostLayout() } catch { /* a build host without cgroups: nothing to read, nothing to learn */ }
    // Container.start()'s call, with a made-up console pty; the plan is only built, nothing is made from it.
    const root = { setup: containerRoot.setup, readOnly: containerRoot.readOnly, scratch: undefined, staging: { root: join(dir, 'root'), lower: join(dir, 'lower') } }
    encodedPlan({ options, root, hostOsRelease: prepared.hostOsRelease, id: prepared.id, devices: prepared.devices, environment: prepared.environment, argv: prepared.argv }, '/dev/pts/0')
    await registerContainer(machined, { name: MACHINE, id: prepared.id, leader: process.pid, rootDirectory: tree, boot: true, networkInterfaces: [], image: undefined, allocateUnit: true })
    await unregisterContainer(machined, MACHINE)
    machined.close()
    interpretExit(MACHINE, { kind: 'killed', signal: 2 }, 'poweroff')
  } finally {
    process.env = saved
    bus.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
