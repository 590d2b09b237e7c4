// The training run behind the code cache of dist/cli/mctl-list.bundle.cjs
// (scripts/build-bins.js), what bin/mctl.js loads for a plain `mctl list`:
// quickList() lists the made-up machines of a stand-in io.systemd.Machine
// (./train-mctl.js), so that the cache holds the option parsing, the
// Varlink client and the table as well as the bundle's top level.
// What it prints goes nowhere: build-bins.js runs this with stdout on /dev/null.
import { standInMachineList } from './train-mctl.js'

/** Runs quickList() against the stand-in; rejects when it could not answer. */
export async function train({ quickList, processIo }) {
  const varlink = await standInMachineList()
  try {
    // Only the stand-in's address: nothing of the builder's environment ($MACHINED_FLEET_ETCD, $COLUMNS) may steer the run.
    const io = { ...processIo(), env: { PATH: process.env.PATH, LANG: 'C.UTF-8', MACHINED_VARLINK_SOCKET: varlink.path } }
    const code = await quickList(['list'], io)
    if (code !== 0) throw new Error(`quickList() answered ${code} in the training run`)
    await io.drained()
  } finally {
    varlink.close()
  }
}
