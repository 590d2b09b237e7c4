/**
 * machined-spawn on every layout: it boots Debian's systemd in a cgroup
 * namespace rooted at the machine's scope, which machined makes where the
 * layout tracks processes; `machinectl poweroff` ends it within 10 s and
 * nothing is left.
 * @module
 */

import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { trackingCgroupsOf } from '../helpers/cgroups.ts'
import { machineScopeCgroup } from '../helpers/cgroups.ts'
import { listMachineNames } from '../helpers/busctl.ts'
import { eventually } from '../helpers/sandbox.ts'
import { scopeDirs } from './core.case.ts'
import type { MatrixCase } from './matrix.ts'

export const spawnCases: MatrixCase[] = [
  {
    name: 'machined-spawn -b boots Debian inside the machine\'s scope; machinectl poweroff ends it within 10 s and leaves nothing',
    run: async ({ w }) => {
      const name = w.name('spawn')
      const container = await w.bootContainer(name)
      try {
        const scope = machineScopeCgroup(name)
        // The guest's systemd runs in init.scope below the machine's scope, in every hierarchy the layout tracks processes in.
        for (const path of trackingCgroupsOf(w.cgroups, await w.procCgroup(container.leader))) {
          assert.ok(path === scope || path.startsWith(`${scope}/`), `the container's PID 1 is in ${path}, not below ${scope}`)
        }
        const list = await w.exec(['machinectl', 'list', '--no-legend'])
        assert.match(list.stdout, new RegExp(`^${name} +container +machined-spawn +debian `, 'm'), list.stdout)
        const off = await w.exec(['machinectl', 'poweroff', name])
        assert.equal(off.code, 0, off.stderr)
        const code = await Promise.race([container.exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 10_000))])
        assert.equal(code, 0, 'machined-spawn exits 0 within 10 s of machinectl poweroff')
        await eventually(async () => !(await listMachineNames(w)).includes(name), 5000, 'the machine to go')
        await eventually(() => scopeDirs(w, name).every((d) => !existsSync(d)), 5000, 'its scope to be removed')
      } finally {
        await container.kill()
      }
    },
  },
]
