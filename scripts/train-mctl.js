// The training run behind mctl's code cache (scripts/build-bins.js): before
// V8's cache of dist/cli/mctl.bundle.cjs is written, the bundle runs `mctl
// list` once against a stand-in bus served from this process, so that the
// cache also holds the functions that verb runs (option parsing, the bus
// handshake, the message codec, the table), not only the bundle's top
// level. V8 compiles a function when it first runs; a cache made without
// running anything leaves all of that to be compiled again on every start
// (about 6 ms of `mctl list`, bench/README.md).
//
// The stand-in bus (./train-bus.js) answers what `mctl list` asks (Hello, NameHasOwner,
// ListMachines, and for each machine GetMachineOSRelease and a
// GetMachineAddresses that fails as it does for a container without a
// network namespace of its own) with made-up machines.
// What mctl prints goes nowhere: build-bins.js runs this with stdout on /dev/null.
import { standInBus } from './train-bus.js'

const MACHINES = 4

/** Runs `mctl list` through `runMctl` (the bundle's export) against a stand-in bus; rejects when it fails. */
export async function train({ runMctl }, { root }) {
  const bus = await standInBus(root, (call, reply) => {
    switch (call.member) {
      case 'NameHasOwner': return reply.ok('b', [true])
      case 'ListMachines': return reply.ok('a(ssso)', [Array.from({ length: MACHINES }, (_, i) => [`train${i}`, 'container', 'train', `/org/freedesktop/machine1/machine/train${i}`])])
      case 'GetMachineOSRelease': return reply.ok('a{ss}', [new Map([['ID', 'debian'], ['VERSION_ID', '12']])])
      case 'GetMachineAddresses': return reply.error('org.freedesktop.machine1.NoPrivateNetworking', `Machine ${call.body[0]} does not use private networking`)
      default: return false
    }
  })
  // Only the stand-in's address: nothing of the builder's environment ($MACHINED_FLEET_ETCD, $COLUMNS) may steer the run.
  const saved = process.env
  process.env = { PATH: saved.PATH, LANG: 'C.UTF-8', DBUS_SYSTEM_BUS_ADDRESS: bus.address }
  try {
    const code = await runMctl(['list'])
    if (code !== 0) throw new Error(`mctl list exited with ${code} in the training run`)
  } finally {
    process.env = saved
    bus.close()
  }
}
