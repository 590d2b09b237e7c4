/**
 * The StateStore port as the core relies on it: one state file per
 * machine, replaced whole by each write, and the unit:<unit> links that
 * name a machine, which unlinking leaves alone once they name another.
 * @module
 */

import assert from 'node:assert/strict'
import type { StateStore } from '../../src/core/ports.ts'
import type { ContractCase, Harness } from './contract.ts'

export interface StateStoreHarness extends Harness {
  /** A store nobody has used yet. */
  readonly state: StateStore
}

const byName = <T extends { name: string }>(list: T[]): T[] => list.sort((a, b) => a.name.localeCompare(b.name))

export const stateStoreCases: readonly ContractCase<StateStoreHarness>[] = [
  {
    name: 'a store just made ready holds no machine and no link',
    async run({ state }) {
      await state.init()
      assert.deepEqual(await state.list(), [])
      assert.deepEqual(await state.listLinks(), [])
    },
  },
  {
    name: 'a write is read back whole; the next write replaces it',
    async run({ state }) {
      await state.init()
      await state.write('web', 'NAME=web\nLEADER=1\n')
      await state.write('db', 'NAME=db\n')
      await state.write('web', 'NAME=web\n')
      assert.deepEqual(byName(await state.list()), [{ name: 'db', contents: 'NAME=db\n' }, { name: 'web', contents: 'NAME=web\n' }])
    },
  },
  {
    name: 'remove forgets a machine\'s file; removing one that is not there is no error',
    async run({ state }) {
      await state.init()
      await state.write('web', 'NAME=web\n')
      await state.remove('web')
      await state.remove('never')
      assert.deepEqual(await state.list(), [])
    },
  },
  {
    name: 'a unit: link names its machine, is replaced by the next link, and is not a machine',
    async run({ state }) {
      await state.init()
      await state.write('web', 'NAME=web\n')
      await state.linkUnit('machine-web.scope', 'old')
      await state.linkUnit('machine-web.scope', 'web')
      await state.linkUnit('probe.service', 'db')
      assert.deepEqual((await state.listLinks()).sort((a, b) => a.unit.localeCompare(b.unit)), [
        { unit: 'machine-web.scope', name: 'web' }, { unit: 'probe.service', name: 'db' },
      ])
      assert.deepEqual((await state.list()).map((f) => f.name), ['web'])
    },
  },
  {
    name: 'unlinking removes a link to that machine only; a link to another machine stays',
    async run({ state }) {
      await state.init()
      await state.linkUnit('machine-web.scope', 'web')
      await state.unlinkUnit('machine-web.scope', 'someone-else')
      assert.deepEqual(await state.listLinks(), [{ unit: 'machine-web.scope', name: 'web' }])
      await state.unlinkUnit('machine-web.scope', 'web')
      await state.unlinkUnit('never.scope', 'web')
      assert.deepEqual(await state.listLinks(), [])
    },
  },
  {
    name: 'list() has every file whole, a long one too, and skips names that are no machine names',
    async run({ state }) {
      await state.init()
      const long = `NAME=long\nROOT=/${'x'.repeat(100_000)}\n`
      await state.write('long', long)
      await state.write('short', 'NAME=short\n')
      await state.write('not a name', 'NAME=junk\n')
      const files = (await state.list()).sort((a, b) => a.name.localeCompare(b.name))
      assert.deepEqual(files, [{ name: 'long', contents: long }, { name: 'short', contents: 'NAME=short\n' }])
    },
  },
  {
    name: 'removing a link removes it whatever machine it names; removing a missing one is no error',
    async run({ state }) {
      await state.init()
      await state.linkUnit('machine-web.scope', 'web')
      await state.linkUnit('probe.service', 'db')
      await state.removeLink('machine-web.scope')
      await state.removeLink('never.scope')
      assert.deepEqual(await state.listLinks(), [{ unit: 'probe.service', name: 'db' }])
      assert.deepEqual((await state.list()).map((f) => f.name), [])
    },
  },
]
