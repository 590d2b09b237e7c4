/**
 * The Inspector port as the core relies on it, for what a test can set up
 * without a guest: a leader in the host's namespaces has no private
 * networking and the identity ID map (UID shift 0), and a leader that is
 * gone has no /proc entry to look through (addresses and os-release are
 * FileNotFound, as systemd answers; its ID maps undefined).
 * @module
 */

import assert from 'node:assert/strict'
import { FileNotFoundError } from '../../src/protocol/errors.ts'
import { uidShiftFromMaps } from '../../src/core/id-map.ts'
import type { Inspector, ProcessRef } from '../../src/core/ports.ts'
import type { ContractCase, Harness } from './contract.ts'

export interface InspectorHarness extends Harness {
  readonly inspector: Inspector
  /** Starts a process in the host's namespaces. */
  start(): Promise<ProcessRef>
  end(pid: number): Promise<void>
}

export const inspectorCases: readonly ContractCase<InspectorHarness>[] = [
  {
    name: 'a leader in the host\'s namespaces: no addresses of its own, the identity ID map',
    async run(h) {
      const leader = await h.start()
      assert.equal(await h.inspector.addresses(leader), undefined)
      const maps = await h.inspector.idMaps(leader)
      assert.ok(maps !== undefined)
      assert.equal(uidShiftFromMaps(maps.uidMap, maps.gidMap), 0)
    },
  },
  {
    name: 'a leader that is gone: addresses and os-release are FileNotFound, ID maps undefined',
    async run(h) {
      const leader = await h.start()
      await h.end(leader.pid)
      await assert.rejects(h.inspector.addresses(leader), FileNotFoundError)
      await assert.rejects(h.inspector.osRelease(leader), FileNotFoundError)
      assert.equal(await h.inspector.idMaps(leader), undefined)
    },
  },
]
