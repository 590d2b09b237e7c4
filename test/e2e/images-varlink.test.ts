// io.systemd.MachineImage over Varlink, through an independent client
// (helpers/varlink-client.py) on both sockets systemd serves it on: List
// (streamed, by name, with metadata, graceful), Update (rename, read-only,
// limit), Clone, Remove, SetPoolLimit and CleanPool, with newest systemd's
// error names; the IDL text introspected; changes seen over D-Bus too.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { asUser, callManager } from '../helpers/busctl.ts'
import { imageSandbox, type ImageWorld, type TestPool } from '../helpers/image-pool.ts'
import type { Sandbox } from '../helpers/sandbox.ts'
import { calls, SOCKET, type Reply } from '../helpers/varlink-py.ts'

const IMAGE_SOCKET = '/run/systemd/machine/io.systemd.MachineImage'
const M = 'io.systemd.MachineImage'

void describe('images over Varlink', () => {
  let pool: TestPool
  let sb: Sandbox
  /** One call on `socket`: its replies. */
  const call = async (method: string, parameters: Record<string, unknown> = {}, more = false, socket = IMAGE_SOCKET): Promise<Reply[]> =>
    (await calls(sb, [{ method: `${M}.${method}`, parameters, more }], socket)).results[0]!
  const one = async (method: string, parameters: Record<string, unknown> = {}): Promise<Reply> => {
    const replies = await call(method, parameters)
    assert.equal(replies.length, 1, JSON.stringify(replies))
    return replies[0]!
  }
  const error = (name: string, parameters: Record<string, unknown> = {}): Reply => ({ error: name, parameters })
  const errno = (errnoName: string, n: number): Reply => error('io.systemd.System', { origin: 'linux', errno: n, errnoName })

  let world: ImageWorld

  before(async () => {
    world = await imageSandbox(['--measure-image-usage=no'])
    ;({ pool, sb } = world)
  })

  after(async () => { await world.stop() })

  test('List streams every image on both sockets, fields as systemd leaves them out', async () => {
    for (const socket of [IMAGE_SOCKET, SOCKET]) {
      const replies = await call('List', {}, true, socket)
      assert.deepEqual(replies.slice(0, -1).map((r) => r.continues), replies.slice(0, -1).map(() => true))
      const byName = new Map(replies.map((r) => [r.parameters?.name as string, r.parameters!]))
      assert.deepEqual([...byName.keys()].sort(), ['.hidden', '.host', 'alpha', 'beta', 'etcimg', 'frozen', 'os', 'rodisk', 'vendor1'])
      assert.deepEqual(byName.get('.host'), { name: '.host', path: '/', type: 'directory', class: 'machine', readOnly: false })
      const alpha = byName.get('alpha')!
      assert.deepEqual(Object.keys(alpha), ['name', 'path', 'type', 'class', 'readOnly', 'creationTimestamp'])
      assert.deepEqual(Object.keys(byName.get('os')!), ['name', 'path', 'type', 'class', 'readOnly', 'creationTimestamp', 'modificationTimestamp', 'usage', 'usageExclusive', 'limit', 'limitExclusive'])
      assert.equal(byName.get('rodisk')!.readOnly, true)
    }
  })

  test('List by name, with metadata: yes fails on an image without an OS, graceful leaves it out', async () => {
    const os = await one('List', { name: 'os', acquireMetadata: 'yes' })
    assert.equal(os.parameters?.hostname, 'rawhost')
    assert.equal(os.parameters?.machineId, 'fedcba9876543210fedcba9876543210')
    assert.deepEqual(os.parameters?.OSRelease, ['ID=rawos', 'VERSION_ID=7', 'PRETTY_NAME=Raw OS 7'])
    const alpha = await one('List', { name: 'alpha', acquireMetadata: 'yes' })
    assert.deepEqual(alpha.parameters?.machineInfo, ['PRETTY_HOSTNAME=Alpha', 'DEPLOYMENT=test'])
    assert.deepEqual(await one('List', { name: 'rodisk', acquireMetadata: 'yes' }), errno('ENOPKG', 65))
    assert.equal((await one('List', { name: 'rodisk', acquireMetadata: 'graceful' })).parameters?.hostname, undefined)
    assert.deepEqual(await one('List', {}), error('org.varlink.service.ExpectedMore'))
    assert.deepEqual(await one('List', { name: 'a/b' }), error('org.varlink.service.InvalidParameter', { parameter: 'name' }))
    assert.deepEqual(await one('List', { name: 'nope' }), error(`${M}.NoSuchImage`))
  })

  test('Update renames, marks read-only and sets limits, with systemd\'s errors', async () => {
    assert.deepEqual(await one('Update', { name: 'beta', newName: 'beta2', readOnly: true }), { parameters: {} })
    assert.ok(existsSync(join(pool.dir, 'beta2')) && !existsSync(join(pool.dir, 'beta')))
    assert.match((await callManager(sb, 'GetImage', 's', 'beta2')).reply, /image\/beta2/)
    assert.equal((await one('List', { name: 'beta2' })).parameters?.readOnly, true)
    assert.deepEqual(await one('Update', { name: 'beta2', limit: 1000 }), errno('EOPNOTSUPP', 95))
    assert.deepEqual(await one('Update', { name: 'beta2', newName: 'os' }), errno('EEXIST', 17))
    assert.deepEqual(await one('Update', { name: 'beta2', newName: '.#x' }), error('org.varlink.service.InvalidParameter', { parameter: 'newName' }))
    assert.deepEqual(await one('Update', { name: 'vendor1', readOnly: false }), errno('EROFS', 30))
    assert.deepEqual(await one('Update', { name: 'nope', readOnly: false }), error(`${M}.NoSuchImage`))
  })

  test('Clone, Remove, SetPoolLimit and CleanPool', async () => {
    assert.deepEqual(await one('Clone', { name: 'alpha', newName: 'alpha2', readOnly: true }), { parameters: {} })
    assert.equal((await one('List', { name: 'alpha2' })).parameters?.readOnly, true)
    assert.deepEqual(await one('Clone', { name: 'alpha', newName: '.host' }), errno('EBUSY', 16))
    assert.deepEqual(await one('Remove', { name: 'alpha2' }), { parameters: {} })
    assert.ok(!existsSync(join(pool.dir, 'alpha2')))
    assert.deepEqual(await one('Remove', { name: '.host' }), errno('EROFS', 30))
    assert.deepEqual(await one('SetPoolLimit', { limit: 1 << 30 }), error(`${M}.NotSupported`))
    assert.deepEqual(await one('CleanPool', { mode: 'hidden' }), error('org.varlink.service.ExpectedMore'))
    assert.deepEqual(await call('CleanPool', { mode: 'hidden' }, true), [{ parameters: { name: '.hidden' } }])
    assert.deepEqual(await call('CleanPool', { mode: 'hidden' }, true), [error(`${M}.NoSuchImage`)])
    assert.deepEqual(await call('CleanPool', { mode: 'some' }, true), [error('org.varlink.service.InvalidParameter', { parameter: 'mode' })])
  })

  test('changes are root\'s: others get PermissionDenied and the pool stays as it is', async () => {
    const nobody = asUser()
    const r = await calls(sb, [
      { method: `${M}.Remove`, parameters: { name: 'alpha' } },
      { method: `${M}.Update`, parameters: { name: 'alpha', newName: 'alpha3' } },
      { method: `${M}.Clone`, parameters: { name: 'alpha', newName: 'alpha3' } },
      { method: `${M}.SetPoolLimit`, parameters: { limit: 1 } },
      { method: `${M}.CleanPool`, parameters: { mode: 'all' }, more: true },
      { method: `${M}.List`, parameters: { name: 'alpha' } },
    ], IMAGE_SOCKET, nobody)
    for (const replies of r.results.slice(0, -1)) assert.deepEqual(replies, [error('org.varlink.service.PermissionDenied')])
    assert.equal(r.results.at(-1)![0]!.parameters?.name, 'alpha')
    assert.ok(existsSync(join(pool.dir, 'alpha')) && !existsSync(join(pool.dir, 'alpha3')))
  })

  test('the IDL is introspectable and lists every method', async () => {
    const r = await calls(sb, [{ method: 'org.varlink.service.GetInterfaceDescription', parameters: { interface: M } }], IMAGE_SOCKET)
    const idl = r.results[0]![0]!.parameters?.description as string
    for (const m of ['List', 'Update', 'Clone', 'Remove', 'SetPoolLimit', 'CleanPool']) assert.match(idl, new RegExp(`^method ${m}\\(`, 'm'))
    assert.match(idl, /^error TooManyOperations\(\)$/m)
  })
})
