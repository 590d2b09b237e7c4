/**
 * Processes are attributed to their machine the way systemd's own tools
 * look for it, on every layout: `ps -o machine` (libsystemd reads the
 * cgroup2 line, or name=systemd where that is all there is, and follows
 * the unit: link), systemd-cgls (the tree its layout detection picks), and
 * real systemd-nspawn registering through us without --keep-unit (machined
 * makes the scope: CreateMachineWithNetwork) and forgotten when it exits.
 * @module
 */

import assert from 'node:assert/strict'
import { chmodSync, copyFileSync, mkdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { machineScopeName } from '../../src/protocol/unit-name.ts'
import { callManager, listMachineNames } from '../helpers/busctl.ts'
import { machineScopeCgroup } from '../helpers/cgroups.ts'
import { eventually } from '../helpers/sandbox.ts'
import { assertGone, assertIn, machineWithChild } from './core.case.ts'
import type { MatrixCase } from './matrix.ts'
import type { World } from './world.ts'

/** A tiny tree systemd-nspawn accepts (busybox, an os-release), made in the world's own file system. */
function busyboxTree(w: World): string {
  const dir = w.scratchDir('nspawn-tree')
  for (const d of ['bin', 'usr', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run', 'var']) mkdirSync(join(dir.host, d))
  copyFileSync('/bin/busybox', join(dir.host, 'bin/busybox'))
  chmodSync(join(dir.host, 'bin/busybox'), 0o755)
  for (const applet of ['sh', 'sleep', 'cat']) symlinkSync('busybox', join(dir.host, 'bin', applet))
  writeFileSync(join(dir.host, 'etc/os-release'), 'ID=busybox\nNAME="BusyBox"\nPRETTY_NAME="BusyBox test tree"\n')
  return dir.world
}

export const attributionCases: MatrixCase[] = [
  {
    name: 'ps -o machine names the machine for its leader and the leader\'s children; systemd-cgls shows the scope; nothing is left after TerminateMachine',
    run: async ({ w }) => {
      const { name, leader, child } = await machineWithChild(w, 'ps')
      const ps = await w.exec(['ps', '-o', 'pid=,machine=', '-p', `${leader},${child}`])
      assert.equal(ps.code, 0, ps.stderr)
      assert.deepEqual(ps.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)[1]), [name, name], ps.stdout)
      for (const pid of [leader, child]) await assertIn(w, pid, machineScopeCgroup(name))
      assert.equal(readlinkSync(w.path(`/run/systemd/machines/unit:${machineScopeName(name)}`)), name)
      // systemd-cgls picks its tree as libsystemd detects the layout: name=systemd on hybrid hosts, cgroup2 on pure ones.
      const cgls = await w.exec(['systemd-cgls', '--no-pager', '/machine.slice'])
      assert.ok(cgls.stdout.includes(machineScopeName(name)), cgls.stdout + cgls.stderr)
      assert.match(cgls.stdout, new RegExp(`\\b${child} sleep 1000\\b`))
      assert.equal((await callManager(w, 'TerminateMachine', 's', name)).ok, true)
      await assertGone(w, name, [leader, child])
      assert.equal((await w.exec(['ls', '-A', '/run/systemd/machines'])).stdout.includes(name), false, 'no state file or link left')
    },
  },
  {
    name: 'systemd-nspawn --register=yes without --keep-unit registers through us (machined makes the scope), lists, and goes when it exits',
    run: async ({ w }) => {
      const tree = busyboxTree(w)
      const name = w.name('nspawn')
      const nspawn = w.exec(['systemd-nspawn', '--register=yes', '-q', '-D', tree, '-M', name, '/bin/sh', '-c', 'sleep 3'], { timeoutMs: 30_000 })
      const listed = await eventually(async () => {
        const r = await w.exec(['machinectl', 'list', '--no-legend'])
        return r.stdout.includes(name) ? r.stdout : undefined
      }, 15_000, 'nspawn to register')
      assert.match(listed, new RegExp(`^${name} +container +systemd-nspawn +busybox +- +-$`, 'm'))
      const state = readlinkSync(w.path(`/run/systemd/machines/unit:${machineScopeName(name)}`))
      assert.equal(state, name, 'the scope machined made for it')
      const leader = Number((await w.exec(['machinectl', 'show', name, '-p', 'Leader', '--value'])).stdout.trim())
      assert.ok(leader > 0)
      // nspawn moves its payload into a cgroup of its own below the scope.
      await assertIn(w, leader, machineScopeCgroup(name), { below: true })
      // Where systemd is PID 1, machined-ts had it make the scope: a unit of its own.
      if (w.unitProperties !== undefined) assert.deepEqual(await w.unitProperties(machineScopeName(name), ['ActiveState', 'Slice']), { ActiveState: 'active', Slice: 'machine.slice' })
      const done = await nspawn
      assert.equal(done.code, 0, done.stdout + done.stderr)
      await eventually(async () => !(await listMachineNames(w)).includes(name), 5000, 'the machine to go')
      await assertGone(w, name, [leader])
    },
  },
]
