// The training run behind mctl's code cache (scripts/build-bins.js): before
// V8's cache of dist/cli/mctl.bundle.cjs is written, the bundle runs `mctl
// list` against stand-ins served from this process, so that the
// cache also holds the functions that verb runs (option parsing, the bus
// handshake, the message codec, the table), not only the bundle's top
// level. V8 compiles a function when it first runs; a cache made without
// running anything leaves all of that to be compiled again on every start
// (about 6 ms of `mctl list`, bench/README.md).
//
// `mctl list` takes io.systemd.Machine when its socket is there, so it runs
// twice: against a stand-in Varlink service (./train-varlink.js) that
// answers List with made-up machines and their metadata, and with no such
// socket against a stand-in bus (./train-bus.js), as on a host with
// systemd-machined 252, answering Hello, NameHasOwner, ListMachines, and for
// each machine GetMachineOSRelease and a GetMachineAddresses that fails as
// it does for a container without a network namespace of its own.
// What mctl prints goes nowhere: build-bins.js runs this with stdout on /dev/null.
import { join } from 'node:path'
import { standInBus } from './train-bus.js'
import { standInVarlink } from './train-varlink.js'

const MACHINES = 4
const names = Array.from({ length: MACHINES }, (_, i) => `train${i}`)

/** A stand-in io.systemd.Machine whose List answers with made-up machines and their metadata (./train-mctl-list.js uses it too). */
export function standInMachineList() {
  return standInVarlink((call) => {
    if (call.method !== 'io.systemd.Machine.List') return undefined
    return [
      { name: '.host', class: 'host', addresses: [{ family: 2, address: [192, 0, 2, 1] }], OSRelease: ['ID=debian', 'VERSION_ID=12'], UIDShift: 0 },
      ...names.map((name) => ({ name, class: 'container', service: 'train', leader: { pid: 1 }, OSRelease: ['ID=debian', 'VERSION_ID=12'], UIDShift: 0 })),
    ]
  })
}

/** Runs `mctl list` through `runMctl` (the bundle's export) against stand-ins of both transports; rejects when it fails. */
export async function train({ runMctl }, { root }) {
  const bus = await standInBus(root, (call, reply) => {
    switch (call.member) {
      case 'NameHasOwner': return reply.ok('b', [true])
      case 'ListMachines': return reply.ok('a(ssso)', [names.map((name) => [name, 'container', 'train', `/org/freedesktop/machine1/machine/${name}`])])
      case 'GetMachineOSRelease': return reply.ok('a{ss}', [new Map([['ID', 'debian'], ['VERSION_ID', '12']])])
      case 'GetMachineAddresses': return reply.error('org.freedesktop.machine1.NoPrivateNetworking', `Machine ${call.body[0]} does not use private networking`)
      default: return false
    }
  })
  const varlink = await standInMachineList()
  // Only the stand-ins' addresses: nothing of the builder's environment ($MACHINED_FLEET_ETCD, $COLUMNS) may steer the runs.
  const saved = process.env
  try {
    for (const varlinkSocket of [varlink.path, join(varlink.path, 'none')]) {
      process.env = { PATH: saved.PATH, LANG: 'C.UTF-8', DBUS_SYSTEM_BUS_ADDRESS: bus.address, MACHINED_VARLINK_SOCKET: varlinkSocket }
      const code = await runMctl(['list'])
      if (code !== 0) throw new Error(`mctl list exited with ${code} in the training run (Varlink socket ${varlinkSocket})`)
    }
  } finally {
    process.env = saved
    bus.close()
    varlink.close()
  }
}
