/**
 * The Units port as the core relies on it: a scope made for a leader
 * holds it (and whatever runs below it), the unit a process lives in is
 * found by its PID, a unit empties when its last process exits and says
 * so to its watchers (the core's garbage collection waits for that),
 * kill and stop reach every process in it, and a released scope lets its
 * processes be and goes once they have.
 * @module
 */

import assert from 'node:assert/strict'
import { NoSuchProcessError } from '../../src/protocol/errors.ts'
import type { CreateScopeRequest, ProcessRef, UnitRef, Units } from '../../src/core/ports.ts'
import { defaultScopeSettings } from '../../src/core/scope-properties.ts'
import { eventually, type ContractCase, type Harness } from './contract.ts'

export interface UnitsHarness extends Harness {
  readonly units: Units
  /** A scope name of this run: cgroups are the whole host's, shared with everything else on it. */
  scopeName(tag: string): string
  /** Starts a process, outside any scope of ours, that ends on SIGTERM and SIGKILL. */
  start(): Promise<ProcessRef>
  /** Ends it from outside and waits until it is gone. */
  end(pid: number): Promise<void>
  /** Resolves once the process has exited. */
  exited(pid: number): Promise<void>
  isRunning(pid: number): boolean
  /** Moves a running process into `sub`, a cgroup below the unit's, as a container manager moves its payload. */
  moveBelow(pid: number, ref: UnitRef, sub: string): Promise<void>
}

const SIGKILL = 9

function scopeRequest(unit: string, leader: ProcessRef): CreateScopeRequest {
  return { unit, description: `Container ${unit}`, leader, settings: defaultScopeSettings() }
}

/** A scope made for a process started for it. */
async function scopeWithLeader(h: UnitsHarness, tag: string): Promise<{ leader: ProcessRef; unit: string; ref: UnitRef }> {
  const leader = await h.start()
  const unit = h.scopeName(tag)
  return { leader, unit, ref: await h.units.createScope(scopeRequest(unit, leader)) }
}

async function listed(units: Units, unit: string): Promise<boolean> {
  return (await units.leftoverScopes()).some((ref) => ref.unit === unit)
}

export const unitsCases: readonly ContractCase<UnitsHarness>[] = [
  {
    name: 'a scope is made in machine.slice with the leader in it; unitOfPid names it',
    async run(h) {
      const { leader, unit, ref } = await scopeWithLeader(h, 'made')
      assert.deepEqual(ref, { unit, cgroup: `/machine.slice/${unit}` })
      assert.deepEqual(await h.units.unitOfPid(leader.pid), ref)
      assert.equal(await h.units.isPopulated(ref), true)
      assert.equal(await listed(h.units, unit), true, 'a scope made here is one leftoverScopes() finds')
    },
  },
  {
    name: 'a process in a cgroup below the scope belongs to the scope',
    async run(h) {
      const { ref } = await scopeWithLeader(h, 'below')
      const payload = await h.start()
      await h.moveBelow(payload.pid, ref, 'payload')
      assert.deepEqual(await h.units.unitOfPid(payload.pid), ref)
    },
  },
  {
    name: 'unitsOfPids answers for many processes at once as unitOfPid does, and leaves a gone process out',
    async run(h) {
      const { leader, ref } = await scopeWithLeader(h, 'many')
      const outside = await h.start()
      const gone = await h.start()
      await h.end(gone.pid)
      const units = await h.units.unitsOfPids([leader.pid, outside.pid, gone.pid])
      assert.deepEqual(units.get(leader.pid), ref)
      assert.deepEqual(units.get(outside.pid), await h.units.unitOfPid(outside.pid))
      assert.equal(units.has(outside.pid), true)
      assert.equal(units.has(gone.pid), false)
      assert.deepEqual(await h.units.unitsOfPids([]), new Map())
    },
  },
  {
    name: 'a process that has exited lives in no unit, and no scope is made for it',
    async run(h) {
      const gone = await h.start()
      await h.end(gone.pid)
      await assert.rejects(h.units.unitOfPid(gone.pid), NoSuchProcessError)
      await assert.rejects(h.units.createScope(scopeRequest(h.scopeName('gone'), gone)), NoSuchProcessError)
    },
  },
  {
    name: 'the scope empties when its last process exits, and its watchers hear of it',
    async run(h) {
      const { leader, ref } = await scopeWithLeader(h, 'empties')
      let heard = false
      const watch = h.units.watch(ref, () => { heard = true })
      try {
        assert.equal(await h.units.isPopulated(ref), true)
        assert.equal(heard, false, 'nothing to hear while the leader runs')
        await h.end(leader.pid)
        await eventually('the watch calls back and the scope is empty', async () => heard && !(await h.units.isPopulated(ref)))
      } finally {
        watch.dispose()
      }
    },
  },
  {
    name: 'kill signals every process in the scope, those below it too',
    async run(h) {
      const { leader, ref } = await scopeWithLeader(h, 'kill')
      const payload = await h.start()
      await h.moveBelow(payload.pid, ref, 'payload')
      assert.equal(await h.units.isPopulated(ref), true)
      await h.units.kill(ref, SIGKILL)
      await h.exited(leader.pid)
      await h.exited(payload.pid)
      assert.equal(h.isRunning(payload.pid), false)
      await eventually('the scope is empty', async () => !(await h.units.isPopulated(ref)))
    },
  },
  {
    name: 'stop ends what ends on the scope\'s KillSignal (SIGTERM by default)',
    async run(h) {
      const { leader, ref } = await scopeWithLeader(h, 'stop')
      assert.equal(await h.units.isPopulated(ref), true)
      await h.units.stop(ref)
      await h.exited(leader.pid)
      assert.equal(h.isRunning(leader.pid), false)
      await eventually('the scope is empty', async () => !(await h.units.isPopulated(ref)))
    },
  },
  {
    name: 'a released scope keeps its processes running, and goes once they have exited',
    async run(h) {
      const { leader, unit, ref } = await scopeWithLeader(h, 'released')
      await h.units.release(ref)
      assert.equal(h.isRunning(leader.pid), true)
      assert.equal(await h.units.isPopulated(ref), true)
      assert.equal(await listed(h.units, unit), true, 'still there while a process runs in it')
      await h.end(leader.pid)
      await eventually('the released scope goes', async () => !(await listed(h.units, unit)))
    },
  },
]
