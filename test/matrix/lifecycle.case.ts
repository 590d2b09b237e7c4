/**
 * A machine lives as long as its processes, on every layout: it goes
 * (MachineRemoved, files removed) within a second of its leader exiting
 * and its scope emptying, stays while its scope still holds processes, and
 * the registry survives a stopped and a crashed daemon: a restart keeps
 * every machine whose leader lives and drops the rest.
 * @module
 */

import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { busctl, callManager, DEST, listMachineNames, registerMachine } from '../helpers/busctl.ts'
import { eventually, sleep } from '../helpers/sandbox.ts'
import { assertGone, machineWithChild, scopeDirs } from './core.case.ts'
import type { MatrixCase } from './matrix.ts'

export const lifecycleCases: MatrixCase[] = [
  {
    name: 'the leader exiting removes the machine within a second, with MachineRemoved on the bus',
    run: async ({ w }) => {
      const leader = await w.spawnLeader()
      const name = w.name('death')
      const monitor = w.watch(['busctl', 'monitor', '--match', "type='signal',member='MachineRemoved'"])
      try {
        assert.equal((await registerMachine(w, { name, leader: leader.pid })).ok, true)
        await leader.release()
        await sleep(300) // let the monitor subscribe
        const killedAt = Date.now()
        await w.exec(['kill', '-9', String(leader.pid)])
        await eventually(async () => !(await listMachineNames(w)).includes(name), 1000, 'the machine to go within a second')
        assert.ok(Date.now() - killedAt < 1000)
        await eventually(() => monitor.output().includes(`STRING "${name}";`), 2000, 'MachineRemoved on the bus')
        assert.equal(existsSync(w.path(`/run/systemd/machines/${name}`)), false)
      } finally {
        monitor.stop()
      }
    },
  },
  {
    name: 'a machine stays while its scope still holds processes after the leader left',
    run: async ({ w }) => {
      const { name, leader, child } = await machineWithChild(w, 'orphans', { script: 'sleep 1000 & sleep 0.5; exit 0' })
      await eventually(() => !w.isRunning(leader), 5000, 'the leader to exit')
      await sleep(500)
      assert.ok((await listMachineNames(w)).includes(name), 'kept while its scope is populated')
      assert.ok(scopeDirs(w, name).every((d) => existsSync(d)))
      assert.equal((await callManager(w, 'KillMachine', 'ssi', name, 'all', 9)).ok, true)
      await assertGone(w, name, [child])
    },
  },
  {
    name: 'a stopped daemon leaves the registry on disk; after a crash, a restart keeps live machines and drops dead ones',
    run: async ({ w }) => {
      const alive = await w.spawnLeader()
      const doomed = await w.spawnLeader()
      const keep = w.name('keep')
      const lose = w.name('lose')
      assert.equal((await registerMachine(w, { name: keep, leader: alive.pid, id: '00112233445566778899aabbccddeeff', service: 'keep-svc', root: '/srv/keep' })).ok, true)
      assert.equal((await registerMachine(w, { name: lose, leader: doomed.pid })).ok, true)
      const stateFile = w.path(`/run/systemd/machines/${keep}`)
      const before = readFileSync(stateFile, 'utf8')

      await w.stopDaemon('SIGTERM')
      assert.equal(readFileSync(stateFile, 'utf8'), before, 'a stopped daemon keeps the state files')
      await w.startDaemon()
      assert.deepEqual((await listMachineNames(w)).filter((n) => n === keep || n === lose).sort(), [keep, lose].sort())

      await w.stopDaemon('SIGKILL')
      await w.exec(['kill', '-9', String(doomed.pid)])
      await eventually(() => !w.isRunning(doomed.pid), 2000, 'the doomed leader to die')
      await w.startDaemon()
      const names = await listMachineNames(w)
      assert.ok(names.includes(keep), 'a machine whose leader lives is kept')
      assert.ok(!names.includes(lose), 'a machine whose leader died is dropped')
      assert.equal(existsSync(w.path(`/run/systemd/machines/${lose}`)), false)
      const path = (await callManager(w, 'GetMachine', 's', keep)).reply.replace(/^o "|"$/g, '')
      const p = await busctl(w, ['get-property', DEST, path, 'org.freedesktop.machine1.Machine', 'Leader', 'Service', 'RootDirectory'])
      assert.equal(p.reply, `u ${alive.pid}\ns "keep-svc"\ns "/srv/keep"`)
      await eventually(() => scopeDirs(w, lose).every((d) => !existsSync(d)), 3000, 'the dead machine\'s scope to be removed')
      assert.equal((await callManager(w, 'TerminateMachine', 's', keep)).ok, true)
      await assertGone(w, keep, [alive.pid])
    },
  },
]
