/**
 * The core on every layout: registering machines (CreateMachine makes the
 * scope, RegisterMachine adopts the one the leader sits in), signalling
 * and terminating them with the scope properties a manager sends, limits
 * reaching the controllers the layout has, and lookups by PID over
 * Varlink as every systemd version's clients send them.
 * @module
 */

import assert from 'node:assert/strict'
import { existsSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { busctl, callManager, createMachine, DEST, listMachineNames, registerMachine } from '../helpers/busctl.ts'
import { accountingDirs, machineScopeCgroup, memoryMaxFile, pidsMaxFile, rootControllers, trackingCgroupsOf, trackingDirs } from '../helpers/cgroups.ts'
import { cgroupOf, parseProcCgroup } from '../../src/linux/cgroup-paths.ts'
import { machineScopeName } from '../../src/protocol/unit-name.ts'
import { eventually, sleep } from '../helpers/sandbox.ts'
import { call1 } from '../helpers/varlink-py.ts'
import type { MatrixCase } from './matrix.ts'
import type { World } from './world.ts'

/** The leader's first child (running `command` exactly, if given), once it has one. */
export async function childOf(w: World, pid: number, command?: string): Promise<number> {
  return eventually(async () => {
    const r = await w.exec(['pgrep', '-P', String(pid), ...(command === undefined ? [] : ['-x', '-f', command])])
    const first = r.stdout.split('\n').find((l) => l.trim() !== '')
    return first === undefined ? undefined : Number(first)
  }, 5000, `a child of ${pid}`)
}

/**
 * Asserts the process sits in `cgroup` in every hierarchy of the world's
 * layout that tracks processes (or below it, with `below`: a container
 * manager's payload cgroup).
 */
export async function assertIn(w: World, pid: number, cgroup: string, options: { below?: boolean } = {}): Promise<void> {
  const paths = trackingCgroupsOf(w.cgroups, await w.procCgroup(pid))
  const inside = (p: string): boolean => p === cgroup || (options.below === true && p.startsWith(`${cgroup}/`))
  assert.ok(paths.length > 0 && paths.every(inside), `process ${pid} is in ${paths.join(', ')}, not in ${cgroup} everywhere it is tracked`)
}

/** The scope's copies in the world's tracking hierarchies and its v1 accounting ones, as this process reaches them. */
export function scopeDirs(w: World, name: string): string[] {
  const scope = machineScopeCgroup(name)
  return [...trackingDirs(w.cgroups, scope, w.path('')), ...accountingDirs(w.cgroups, scope, w.path('')).map(([, d]) => d)]
}

/**
 * A machine made with CreateMachine (`service` its service) for a leader
 * that, once in its scope, runs `script` (by default: fork `sleep 1000`
 * and wait): its name, its leader's PID and that sleep's.
 */
export async function machineWithChild(w: World, base: string, options: { script?: string; service?: string } = {}): Promise<{ name: string; leader: number; child: number }> {
  const leader = await w.spawnLeader(options.script ?? 'sleep 1000 & wait')
  const name = w.name(base)
  const r = await createMachine(w, { name, leader: leader.pid, ...(options.service === undefined ? {} : { service: options.service }) })
  assert.equal(r.ok, true, r.stderr)
  await leader.release()
  return { name, leader: leader.pid, child: await childOf(w, leader.pid, 'sleep 1000') }
}

export async function assertGone(w: World, name: string, pids: readonly number[]): Promise<void> {
  await eventually(async () => !(await listMachineNames(w)).includes(name), 5000, `${name} to leave the list`)
  await eventually(() => pids.every((p) => !w.isRunning(p)), 5000, 'its processes to end')
  await eventually(() => scopeDirs(w, name).every((d) => !existsSync(d)), 5000, 'its scope to be removed')
  assert.equal(existsSync(w.path(`/run/systemd/machines/${name}`)), false, 'state file left')
}

export const coreCases: MatrixCase[] = [
  {
    name: 'CreateMachine puts the leader and its children in machine-NAME.scope everywhere the layout tracks processes and in its v1 memory and pids hierarchies (accounting); machinectl shows it; TerminateMachine ends it',
    run: async (c) => {
      const { w } = c
      const { name, leader, child } = await machineWithChild(w, 'create', { service: 'matrix' })
      const scope = machineScopeCgroup(name)
      for (const pid of [leader, child]) await assertIn(w, pid, scope)
      for (const dir of scopeDirs(w, name)) assert.ok(existsSync(dir), `${dir} missing`)
      // As systemd 252 accounts every unit's memory and tasks: in the v1 hierarchies where those controllers are.
      const accounted = accountingDirs(w.cgroups, scope)
      for (const pid of [leader, child]) {
        const lines = parseProcCgroup(await w.procCgroup(pid))
        for (const [controller] of accounted) assert.equal(cgroupOf(lines, controller), scope, `process ${pid} in the scope's v1 ${controller} copy`)
      }
      if (accounted.length === 0) c.notApplicable('v1 accounting hierarchies', `no v1 memory or pids hierarchy is mounted (${w.cgroups.kind})`)
      const list = await w.exec(['machinectl', 'list', '--no-legend'])
      assert.match(list.stdout, new RegExp(`^${name} +container +matrix `, 'm'), list.stdout + list.stderr)
      const status = await w.exec(['machinectl', 'status', name])
      assert.equal(status.code, 0, status.stderr)
      assert.match(status.stdout, new RegExp(`Unit: ${scope.split('/').at(-1)!.replace(/\\/g, '\\\\').replace(/\./g, '\\.')}`))
      assert.match(status.stdout, new RegExp(`Leader: ${leader} `))
      assert.equal((await callManager(w, 'TerminateMachine', 's', name)).ok, true)
      await assertGone(w, name, [leader, child])
    },
  },
  {
    name: 'RegisterMachine adopts the scope its leader already sits in; UnregisterMachine leaves the processes running',
    run: async ({ w }) => {
      const name = w.name('adopt')
      const unit = `${name}-payload.scope`
      const leader = await w.spawnLeader('sleep 1000', { unit })
      await leader.release()
      await assertIn(w, leader.pid, `/machine.slice/${unit}`)
      assert.equal((await registerMachine(w, { name, leader: leader.pid })).ok, true)
      const path = (await callManager(w, 'GetMachine', 's', name)).reply.replace(/^o "|"$/g, '')
      assert.equal((await busctl(w, ['get-property', DEST, path, 'org.freedesktop.machine1.Machine', 'Unit'])).reply, `s "${unit}"`)
      assert.equal(readlinkSync(w.path(`/run/systemd/machines/unit:${unit}`)), name, 'the unit: link ps -o machine follows')
      assert.equal((await callManager(w, 'UnregisterMachine', 's', name)).ok, true)
      assert.equal((await listMachineNames(w)).includes(name), false)
      await sleep(300)
      assert.ok(w.isRunning(leader.pid), 'unregistering must not stop the leader')
      await assertIn(w, leader.pid, `/machine.slice/${unit}`)
      await w.exec(['kill', '-9', String(leader.pid)])
    },
  },
  {
    name: 'KillMachine: "leader" reaches the leader only, "all" every process in the scope; the machine goes once its scope is empty',
    run: async ({ w }) => {
      const { name, leader, child } = await machineWithChild(w, 'kill')
      const k = await w.exec(['machinectl', 'kill', '--kill-whom=leader', '--signal=SIGTERM', name])
      assert.equal(k.code, 0, k.stderr)
      await eventually(() => !w.isRunning(leader), 5000, 'the leader to end')
      await sleep(500)
      assert.ok(w.isRunning(child), 'the leader\'s child got no signal')
      assert.ok((await listMachineNames(w)).includes(name), 'the machine stays while its scope has a process')
      const all = await w.exec(['machinectl', 'kill', '--signal=SIGKILL', name])
      assert.equal(all.code, 0, all.stderr)
      await assertGone(w, name, [child])
    },
  },
  {
    name: 'TerminateMachine with KillSignal=SIGUSR1 and TimeoutStopUSec=1s: the signal reaches every process, SIGKILL follows the timeout',
    run: async ({ w }) => {
      const marks = w.scratchDir('killsignal')
      // The leader notes SIGUSR1 and carries on; its child (sleep) dies of it.
      const leader = await w.spawnLeader(`trap 'echo usr1 >> ${marks.world}/leader' USR1; sleep 1000 & while :; do wait; done`)
      const name = w.name('killsig')
      const r = await createMachine(w, { name, leader: leader.pid, properties: ['2', 'KillSignal', 'i', '10', 'TimeoutStopUSec', 't', '1000000'] })
      assert.equal(r.ok, true, r.stderr)
      await leader.release()
      const child = await childOf(w, leader.pid, 'sleep 1000')
      assert.equal((await callManager(w, 'TerminateMachine', 's', name)).ok, true)
      await eventually(() => !w.isRunning(child), 2000, 'the child to die of SIGUSR1')
      await eventually(() => existsSync(join(marks.host, 'leader')), 2000, 'the leader to see SIGUSR1')
      assert.ok(w.isRunning(leader.pid), 'the leader outlives KillSignal until the timeout')
      await assertGone(w, name, [leader.pid])
      assert.equal(readFileSync(join(marks.host, 'leader'), 'utf8'), 'usr1\n', 'KillSignal is sent once')
    },
  },
  {
    name: 'TasksMax= and MemoryMax= reach the pids and memory controllers the layout has',
    run: async (c) => {
      const { w } = c
      const leader = await w.spawnLeader()
      const name = w.name('limits')
      const r = await createMachine(w, { name, leader: leader.pid, properties: ['2', 'TasksMax', 't', '77', 'MemoryMax', 't', String(64 << 20)] })
      assert.equal(r.ok, true, r.stderr)
      await leader.release()
      const scope = machineScopeCgroup(name)
      const controllers = rootControllers(w.cgroups, w.path(''))
      const pids = pidsMaxFile(w.cgroups, scope, w.path(''))
      const log = await w.daemonLog()
      // Where systemd runs the scope, the limits are its own (it applies what its controllers allow); else the daemon says what it could not apply.
      const unit = w.unitProperties === undefined ? undefined : await w.unitProperties(machineScopeName(name), ['TasksMax', 'MemoryMax'])
      if (unit !== undefined) assert.deepEqual(unit, { TasksMax: '77', MemoryMax: String(64 << 20) }, 'the limits reach PID 1')
      if (pids === undefined) {
        assert.ok(!controllers.includes('pids') && w.cgroups.pidsV1 === undefined)
        if (unit === undefined) assert.match(log, /TasksMax= not enforced: no pids controller in this cgroup layout/, 'and the daemon says so')
        c.notApplicable('TasksMax= enforced', `no pids controller: cgroup2's root offers "${controllers.join(' ')}" and no v1 pids hierarchy is mounted${unit === undefined ? '' : ' (systemd holds TasksMax=77 for the scope)'}`)
      } else {
        assert.equal(readFileSync(pids, 'utf8'), '77\n')
      }
      const memory = memoryMaxFile(w.cgroups, scope, w.path(''))
      if (memory === undefined) {
        assert.ok(!controllers.includes('memory') && w.cgroups.memoryV1 === undefined)
        if (unit === undefined) assert.match(log, /MemoryMax= not enforced: no memory controller in this cgroup layout/, 'and the daemon says so')
        c.notApplicable('MemoryMax= enforced', `no memory controller: cgroup2's root offers "${controllers.join(' ')}" and no v1 memory hierarchy is mounted${unit === undefined ? '' : ` (systemd holds MemoryMax=${64 << 20} for the scope)`}`)
      } else {
        assert.equal(readFileSync(memory, 'utf8'), `${64 << 20}\n`)
      }
      assert.equal((await callManager(w, 'TerminateMachine', 's', name)).ok, true)
      await assertGone(w, name, [leader.pid])
    },
  },
  {
    name: 'Varlink List {"pid": N}, as a plain integer or a ProcessId, answers like List {"name": …}',
    run: async ({ w }) => {
      const leader = await w.spawnLeader()
      const name = w.name('vlpid')
      assert.equal((await registerMachine(w, { name, leader: leader.pid })).ok, true)
      const byName = await call1(w, 'io.systemd.Machine.List', { name })
      assert.equal(byName.error, undefined, JSON.stringify(byName))
      assert.deepEqual(await call1(w, 'io.systemd.Machine.List', { pid: leader.pid }), byName)
      assert.deepEqual(await call1(w, 'io.systemd.Machine.List', { pid: { pid: leader.pid } }), byName)
      assert.deepEqual(await call1(w, 'io.systemd.Machine.List', { name, pid: leader.pid }), byName)
      assert.equal((await callManager(w, 'TerminateMachine', 's', name)).ok, true)
      await assertGone(w, name, [leader.pid])
    },
  },
]
