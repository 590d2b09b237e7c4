// A pool on btrfs (a loop file system made with btrfs-progs, mounted over
// /var/lib/machines inside the sandbox only): subvolume images, the
// read-only flag, clones as snapshots (and plain directories cloned into
// fresh subvolumes), quota limits through qgroups once the administrator
// has switched quotas on, and a clear refusal before that (machined-ts
// never switches them on itself), driven by real machinectl.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { makeTestPool, writeOsFiles, type TestPool } from '../helpers/image-pool.ts'
import { Sandbox } from '../helpers/sandbox.ts'

void describe('images on btrfs', () => {
  let pool: TestPool
  let sb: Sandbox
  let dir: string
  const machinectl = (...args: string[]) => sb.exec(['machinectl', ...args], { timeoutMs: 120_000 })
  const sh = (script: string): string => {
    const r = sb.execSync(['sh', '-c', script])
    assert.equal(r.code, 0, `${script}: ${r.stderr}`)
    return r.stdout
  }

  before(async () => {
    pool = makeTestPool()
    dir = mkdtempSync('/var/tmp/machined-ts-btrfs-')
    execFileSync('truncate', ['-s', '512M', join(dir, 'fs.img')])
    execFileSync('mkfs.btrfs', ['-q', join(dir, 'fs.img')])
    sb = await Sandbox.start({ images: { pool: pool.dir } })
    // Mounted in the sandbox only: the loop device goes with its last mount (autoclear), that is with the sandbox.
    sh(`mount -o loop ${join(dir, 'fs.img')} /var/lib/machines`)
    const tree = mkdtempSync('/var/tmp/machined-ts-btrfs-tree-')
    try {
      writeOsFiles(tree, { id: 'btr', version: '1', pretty: 'Btrfs OS 1', hostname: 'svhost' })
      sh(`btrfs -q subvolume create /var/lib/machines/sv && cp -a ${tree}/. /var/lib/machines/sv/ && mkdir /var/lib/machines/plain && head -c 100000 /dev/urandom > /var/lib/machines/plain/data`)
    } finally {
      rmSync(tree, { recursive: true, force: true })
    }
  })

  after(async () => {
    await sb.stop()
    pool.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  test('subvolumes are subvolume images; read-only is the subvolume\'s flag', async () => {
    assert.match((await machinectl('list-images')).stdout, /^plain +directory no +\S+ .*\nsv +subvolume no /m)
    assert.match((await machinectl('image-status', 'sv')).stdout, /^\t {4}Type: subvolume\n[^]*\tHostname: svhost\n[^]*\t {6}OS: Btrfs OS 1\n[^]*\t Created: /m)
    assert.equal((await machinectl('read-only', 'sv')).code, 0)
    assert.equal(sh('btrfs property get -ts /var/lib/machines/sv ro'), 'ro=true\n')
    assert.match((await machinectl('list-images')).stdout, /^sv +subvolume yes /m)
    assert.equal((await machinectl('read-only', 'sv', 'no')).code, 0)
    assert.equal(sh('btrfs property get -ts /var/lib/machines/sv ro'), 'ro=false\n')
  })

  test('clones are snapshots, read-only ones too; a plain directory is cloned into a new subvolume', async () => {
    assert.equal((await machinectl('clone', 'sv', 'svc')).code, 0)
    assert.equal((await machinectl('clone', '--read-only', 'sv', 'svro')).code, 0)
    assert.equal((await machinectl('clone', 'plain', 'plainc')).code, 0)
    const list = (await machinectl('list-images')).stdout
    assert.match(list, /^plainc +subvolume no /m)
    assert.match(list, /^svc +subvolume no /m)
    assert.match(list, /^svro +subvolume yes /m)
    assert.match(sh('btrfs subvolume show /var/lib/machines/svc'), /Parent UUID:\s+[0-9a-f-]{36}/)
    assert.equal(sh('cmp /var/lib/machines/plain/data /var/lib/machines/plainc/data && echo same'), 'same\n')
    assert.equal((await machinectl('image-status', 'svro')).stdout.includes('\tHostname: svhost\n'), true)
  })

  test('limits need quotas, which only the administrator switches on; then they are qgroup limits', async () => {
    const refused = await machinectl('set-limit', 'sv', '100M')
    assert.equal(refused.stderr, 'Could not set limit: Quota is not enabled on the file system of /var/lib/machines/sv: enable it first (btrfs quota enable), machined-ts never does.\n')
    const pool = await machinectl('set-limit', '1G')
    assert.match(pool.stderr, /^Could not set limit: Quota is not enabled on the file system of \/var\/lib\/machines/)
    assert.notEqual(sb.execSync(['btrfs', 'qgroup', 'show', '/var/lib/machines']).code, 0, 'quotas are still off')
    sh('btrfs quota enable /var/lib/machines && btrfs quota rescan -w /var/lib/machines >/dev/null')
    assert.equal((await machinectl('set-limit', 'sv', '100M')).code, 0)
    assert.equal((await machinectl('set-limit', '1G')).code, 0)
    assert.match((await machinectl('image-status', 'sv')).stdout, /^\t {3}Usage: \S+\n\t {3}Limit: 100\.0M\n/m)
    assert.equal((await machinectl('show-image', 'sv', '-p', 'Limit', '--value')).stdout, '104857600\n')
    assert.equal((await machinectl('show-image', '-p', 'PoolLimit', '--value')).stdout, '1073741824\n')
    assert.match((await machinectl('image-status')).stdout, /^\t {4}Path: \/var\/lib\/machines\n\t {3}Usage: \S+\n\t {3}Limit: 1\.0G\n$/)
    assert.equal((await machinectl('set-limit', 'sv', 'infinity')).code, 0)
    assert.equal((await machinectl('show-image', 'sv', '-p', 'Limit', '--value')).stdout, 'infinity\n')
  })

  test('removing subvolume images (read-only snapshots included) deletes the subvolumes', async () => {
    assert.equal((await machinectl('remove', 'svc', 'svro', 'plainc')).code, 0)
    assert.doesNotMatch(sh('btrfs subvolume list /var/lib/machines'), /svc|svro|plainc/)
    assert.doesNotMatch((await machinectl('list-images')).stdout, /svc|svro|plainc/)
  })
})
