// Disk usage of directory images: a list shows the last measurement and
// measures in the background (a few at a time, never taking the last
// operation place); one image's properties wait briefly for a fresh one;
// measurements age out; raw images keep what their file system says.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { imageToChange } from '../../src/core/image-control.ts'
import { imageWithUsage, listImages, USAGE_WAIT_MS } from '../../src/core/image-inspect.ts'
import { BACKGROUND_SCANS, USAGE_TTL_USEC } from '../../src/core/image-usage.ts'
import { Manager } from '../../src/core/manager.ts'
import { UINT64_MAX } from '../../src/protocol/image.ts'
import { createFakePorts } from '../fakes/ports.ts'
import { settle, world } from '../helpers/manager-fixtures.ts'

function usages(images: { name: string; usage: bigint }[]): Record<string, bigint> {
  return Object.fromEntries(images.map((i) => [i.name, i.usage]))
}

void describe('image usage', () => {
  void test('a list measures in the background and shows the result the next time', async () => {
    const { manager, ports } = world()
    ports.images.add('alpha', { bytes: 40_960n })
    ports.images.add('disk', { type: 'raw', bytes: 4096n })
    assert.deepEqual(usages(await listImages(manager)), { alpha: UINT64_MAX, disk: 4096n, '.host': UINT64_MAX })
    await settle()
    assert.deepEqual(usages(await listImages(manager)), { alpha: 40_960n, disk: 4096n, '.host': UINT64_MAX })
  })

  void test('a measurement stands for a while, then is taken again (the old value shown meanwhile)', async () => {
    const { manager, ports } = world()
    const alpha = ports.images.add('alpha', { bytes: 4096n })
    await listImages(manager)
    await settle()
    alpha.bytes = 8192n
    ports.clock.advance(Number(USAGE_TTL_USEC / 1000n) - 1000)
    assert.equal(usages(await listImages(manager)).alpha, 4096n)
    await settle()
    assert.equal(usages(await listImages(manager)).alpha, 4096n)
    ports.clock.advance(2000)
    assert.equal(usages(await listImages(manager)).alpha, 4096n)
    await settle()
    assert.equal(usages(await listImages(manager)).alpha, 8192n)
  })

  void test('one image waits for its measurement, at most a while', async () => {
    const { manager, ports } = world()
    ports.images.add('alpha', { bytes: 4096n })
    assert.equal((await imageWithUsage(manager, await imageToChange(manager, 'alpha'))).usage, 4096n)
    const stuck = ports.images.add('beta')
    let finish = (): void => undefined
    ports.images.scanUsage = async (image) => {
      if (image.name !== 'beta') return 0n
      await new Promise<void>((resolve) => { finish = resolve })
      return stuck.bytes
    }
    const waiting = imageWithUsage(manager, await imageToChange(manager, 'beta'))
    await settle()
    ports.clock.advance(USAGE_WAIT_MS)
    assert.equal((await waiting).usage, UINT64_MAX)
    finish()
    await settle()
    assert.equal(usages(await listImages(manager)).beta, 4096n)
  })

  void test('background measurements run a few at a time and leave room under the operation limit', async () => {
    const { manager, ports } = world({ limits: { maxMachines: 10, maxOperations: 3 } })
    for (let i = 0; i < 6; i++) ports.images.add(`img${i}`)
    const started: string[] = []
    const pending: (() => void)[] = []
    ports.images.scanUsage = async (image) => {
      started.push(image.name)
      await new Promise<void>((resolve) => pending.push(resolve))
      return 1n
    }
    await listImages(manager)
    await settle()
    assert.equal(started.length, BACKGROUND_SCANS)
    assert.equal(manager.operations, BACKGROUND_SCANS)
    while (pending.length > 0) {
      pending.shift()!()
      await settle()
    }
    assert.equal(started.length, 6)
    assert.equal(manager.operations, 0)
  })

  void test('a pool that does not measure leaves usage unknown and starts nothing', async () => {
    const ports = createFakePorts()
    ports.images.measuresUsage = false
    ports.images.add('alpha', { bytes: 4096n })
    let scans = 0
    ports.images.scanUsage = async () => { scans++; return 1n }
    const manager = new Manager(ports)
    await listImages(manager)
    await settle()
    assert.equal(usages(await listImages(manager)).alpha, UINT64_MAX)
    assert.equal((await imageWithUsage(manager, await imageToChange(manager, 'alpha'))).usage, UINT64_MAX)
    assert.equal(scans, 0)
  })
})
