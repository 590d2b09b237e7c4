/**
 * What the core relies on from an ImagePool: the search path (the first
 * image of a name wins, vendor images are read-only, .host is always
 * there), the changes and what goes along with them (settings and root
 * hash files next to an image), nspawn's locks (EBUSY for whoever finds a
 * lock taken), what is read inside an image, and disk usage.
 * @module
 */

import assert from 'node:assert/strict'
import { MachinedError } from '../../src/protocol/errors.ts'
import type { ImageMetadata } from '../../src/protocol/image.ts'
import type { Image, ImagePool } from '../../src/core/ports.ts'
import type { ContractCase, Harness } from './contract.ts'

export interface ImageOs {
  readonly hostname: string
  readonly machineId: string
  readonly pretty: string
}

export interface ImagePoolHarness extends Harness {
  readonly pool: ImagePool
  /** Puts an image in the pool (or in the vendor directory, searched after it); `bytes` of data in it. */
  add(name: string, o?: { type?: 'directory' | 'raw'; vendor?: boolean; readOnly?: boolean; os?: ImageOs; bytes?: number }): Promise<void>
  /** Holds image `name`'s lock the way a running container does; resolves to its release. */
  lock(name: string, mode: 'shared' | 'exclusive'): Promise<() => Promise<void>>
  /** A file in the pool's directory that is no image (NAME.nspawn, NAME.roothash). */
  writePoolFile(file: string): Promise<void>
  hasPoolFile(file: string): Promise<boolean>
}

async function names(pool: ImagePool): Promise<string[]> {
  return (await pool.discover()).map((i) => i.name).sort()
}

async function get(pool: ImagePool, name: string): Promise<Image> {
  const image = await pool.find(name)
  assert.ok(image !== undefined, `image ${name} found`)
  return image
}

async function failsWith(work: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(work, (err: unknown) => err instanceof MachinedError && err.code === code)
}

const OS: ImageOs = { hostname: 'alphahost', machineId: '0123456789abcdef0123456789abcdef', pretty: 'Contract OS 1' }

function osRelease(m: ImageMetadata): string | undefined {
  return m.osRelease.find(([k]) => k === 'PRETTY_NAME')?.[1]
}

export const imagePoolCases: readonly ContractCase<ImagePoolHarness>[] = [
  {
    name: 'discovers every image once, the first directory of the search path winning, with .host',
    async run(h) {
      await h.add('alpha')
      await h.add('.hidden')
      await h.add('disk', { type: 'raw', bytes: 8192 })
      await h.add('alpha', { vendor: true })
      await h.add('vendor1', { vendor: true })
      assert.deepEqual(await names(h.pool), ['.hidden', '.host', 'alpha', 'disk', 'vendor1'])
      const alpha = await get(h.pool, 'alpha')
      assert.equal(alpha.vendor, false)
      assert.equal(alpha.type, 'directory')
      const vendor = await get(h.pool, 'vendor1')
      assert.ok(vendor.vendor && vendor.readOnly)
      const disk = await get(h.pool, 'disk')
      assert.equal(disk.type, 'raw')
      assert.ok(disk.path.endsWith('/disk.raw'))
      assert.equal(disk.limit, 8192n)
      assert.ok(disk.usage >= 8192n)
      const host = await get(h.pool, '.host')
      assert.equal(host.path, '/')
      assert.equal(await h.pool.find('nope'), undefined)
      assert.equal(await h.pool.find('a/b'), undefined)
    },
  },
  {
    name: 'remove: the image and the settings next to it go',
    async run(h) {
      await h.add('alpha')
      await h.writePoolFile('alpha.nspawn')
      await h.pool.remove(await get(h.pool, 'alpha'))
      assert.equal(await h.pool.find('alpha'), undefined)
      assert.equal(await h.hasPoolFile('alpha.nspawn'), false)
    },
  },
  {
    name: 'rename: the image and its settings take the new name; a taken name is EEXIST, .host EBUSY',
    // Root: a read-only image is FS_IMMUTABLE_FL, which only CAP_LINUX_IMMUTABLE sets.
    realNeedsRoot: true,
    async run(h) {
      await h.add('alpha', { readOnly: true })
      await h.add('disk', { type: 'raw' })
      await h.writePoolFile('alpha.nspawn')
      await h.pool.rename(await get(h.pool, 'alpha'), 'gamma')
      assert.deepEqual(await names(h.pool), ['.host', 'disk', 'gamma'])
      assert.equal((await get(h.pool, 'gamma')).readOnly, true)
      assert.ok(await h.hasPoolFile('gamma.nspawn'))
      await failsWith(h.pool.rename(await get(h.pool, 'gamma'), 'disk'), 'FILE_EXISTS')
      await failsWith(h.pool.rename(await get(h.pool, 'gamma'), '.host'), 'BUSY')
      await h.pool.rename(await get(h.pool, 'disk'), 'disk2')
      assert.ok((await get(h.pool, 'disk2')).path.endsWith('/disk2.raw'))
    },
  },
  {
    name: 'clone: a copy in the pool with what is inside and the settings; read-only when asked; a taken name is EEXIST',
    // Root: read-only clones are FS_IMMUTABLE_FL (CAP_LINUX_IMMUTABLE).
    realNeedsRoot: true,
    async run(h) {
      await h.add('alpha', { os: OS })
      await h.add('vendor1', { vendor: true })
      await h.writePoolFile('alpha.nspawn')
      await h.pool.clone(await get(h.pool, 'alpha'), 'beta', false)
      await h.pool.clone(await get(h.pool, 'alpha'), 'gamma', true)
      await h.pool.clone(await get(h.pool, 'vendor1'), 'own', false)
      const beta = await get(h.pool, 'beta')
      assert.equal(beta.readOnly, false)
      assert.equal((await get(h.pool, 'gamma')).readOnly, true)
      assert.equal((await get(h.pool, 'own')).vendor, false)
      assert.equal((await h.pool.metadata(beta)).hostname, OS.hostname)
      assert.ok(await h.hasPoolFile('beta.nspawn'))
      await failsWith(h.pool.clone(await get(h.pool, 'alpha'), 'beta', false), 'FILE_EXISTS')
      assert.deepEqual(await names(h.pool), ['.host', 'alpha', 'beta', 'gamma', 'own', 'vendor1'])
    },
  },
  {
    name: 'read-only: set and cleared, for directories and raw images',
    // Root: FS_IMMUTABLE_FL needs CAP_LINUX_IMMUTABLE.
    realNeedsRoot: true,
    async run(h) {
      await h.add('alpha')
      await h.add('disk', { type: 'raw' })
      for (const name of ['alpha', 'disk']) {
        await h.pool.setReadOnly(await get(h.pool, name), true)
        assert.equal((await get(h.pool, name)).readOnly, true, name)
        await h.pool.setReadOnly(await get(h.pool, name), false)
        assert.equal((await get(h.pool, name)).readOnly, false, name)
      }
    },
  },
  {
    name: 'an image in use: a shared lock keeps it from removal, renaming and marking; an exclusive one from reading too',
    async run(h) {
      await h.add('alpha', { os: OS })
      const release = await h.lock('alpha', 'shared')
      const alpha = await get(h.pool, 'alpha')
      await failsWith(h.pool.remove(alpha), 'BUSY')
      await failsWith(h.pool.rename(alpha, 'beta'), 'BUSY')
      await failsWith(h.pool.setReadOnly(alpha, true), 'BUSY')
      assert.equal((await h.pool.metadata(alpha)).hostname, OS.hostname)
      await h.pool.clone(alpha, 'beta', false)
      await release()
      const exclusive = await h.lock('alpha', 'exclusive')
      await failsWith(h.pool.metadata(alpha), 'BUSY')
      await exclusive()
      await h.pool.remove(alpha)
      assert.deepEqual(await names(h.pool), ['.host', 'beta'])
    },
  },
  {
    name: 'metadata: host name, machine ID, machine-info and os-release of a directory and of a raw disk',
    // Root: a raw disk's files are read through a loop device.
    realNeedsRoot: true,
    async run(h) {
      await h.add('alpha', { os: OS })
      await h.add('disk', { type: 'raw', os: { ...OS, hostname: 'diskhost' } })
      await h.add('empty')
      const m = await h.pool.metadata(await get(h.pool, 'alpha'))
      assert.equal(m.hostname, OS.hostname)
      assert.equal(m.machineId, OS.machineId)
      assert.equal(osRelease(m), OS.pretty)
      const d = await h.pool.metadata(await get(h.pool, 'disk'))
      assert.equal(d.hostname, 'diskhost')
      assert.equal(osRelease(d), OS.pretty)
      assert.deepEqual(await h.pool.metadata(await get(h.pool, 'empty')), { hostname: '', machineId: '', machineInfo: [], osRelease: [] })
    },
  },
  {
    name: 'disk usage of a directory counts what is in it',
    async run(h) {
      await h.add('small', { bytes: 0 })
      await h.add('big', { bytes: 1 << 20 })
      const small = await h.pool.scanUsage(await get(h.pool, 'small'))
      const big = await h.pool.scanUsage(await get(h.pool, 'big'))
      assert.ok(big >= (1n << 20n) && big > small, `${big} > ${small}`)
    },
  },
]
