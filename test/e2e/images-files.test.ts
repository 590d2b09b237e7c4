// What the image pool does to files, driven by real machinectl and busctl
// against machined-ts in a sandbox over a test pool (bind-mounted over
// /var/lib/machines; /etc and /usr/lib are overlays, so nothing of the
// host changes): settings files (the administrator's in
// /etc/systemd/nspawn are never touched), clones that keep everything, a
// failed clone that leaves nothing, an image in use by a real
// systemd-nspawn container, root-only changes, and disk usage measured.
import assert from 'node:assert/strict'
import { cpSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { asUser, busctl, callManager, DEST, MANAGER_IFACE, MANAGER_PATH } from '../helpers/busctl.ts'
import { busyboxTree } from '../helpers/busybox-tree.ts'
import { imageSandbox, type ImageWorld, type TestPool } from '../helpers/image-pool.ts'
import { NspawnRun } from '../helpers/nspawn.ts'
import { eventually, REPO, type Sandbox } from '../helpers/sandbox.ts'

const MANIFEST = join(REPO, 'test/helpers/tree-manifest.py')

void describe('images: files', () => {
  let pool: TestPool
  let sb: Sandbox
  const machinectl = async (...args: string[]) => sb.exec(['machinectl', ...args], { timeoutMs: 120_000 })
  const exists = (path: string): boolean => sb.execSync(['test', '-e', path]).code === 0
  const ok = (r: { code: number; stderr: string }): void => assert.equal(r.code, 0, r.stderr)

  let world: ImageWorld

  before(async () => {
    world = await imageSandbox()
    ;({ pool, sb } = world)
  })

  after(async () => { await world.stop() })

  test('settings: those next to the image and in /run follow rename and clone and go with remove; /etc/systemd/nspawn is never touched', async () => {
    ok(sb.execSync(['sh', '-c', 'mkdir -p /run/systemd/nspawn && for d in /etc/systemd/nspawn /run/systemd/nspawn /var/lib/machines; do echo "[Exec]" > $d/alpha.nspawn; done && echo 00 > /var/lib/machines/alpha.roothash']))
    ok(await machinectl('clone', 'alpha', 'a2'))
    for (const f of ['/var/lib/machines/a2.nspawn', '/run/systemd/nspawn/a2.nspawn', '/var/lib/machines/a2.roothash']) assert.ok(exists(f), f)
    assert.ok(!exists('/etc/systemd/nspawn/a2.nspawn'))
    ok(await machinectl('rename', 'a2', 'a3'))
    for (const f of ['/var/lib/machines/a3.nspawn', '/run/systemd/nspawn/a3.nspawn', '/var/lib/machines/a3.roothash']) assert.ok(exists(f), f)
    for (const f of ['/var/lib/machines/a2.nspawn', '/run/systemd/nspawn/a2.nspawn', '/var/lib/machines/a2.roothash']) assert.ok(!exists(f), f)
    ok(await machinectl('remove', 'a3', 'alpha'))
    for (const f of ['/var/lib/machines/a3.nspawn', '/run/systemd/nspawn/a3.nspawn', '/var/lib/machines/alpha.nspawn', '/run/systemd/nspawn/alpha.nspawn', '/var/lib/machines/alpha.roothash']) {
      assert.ok(!exists(f), f)
    }
    assert.equal(sb.execSync(['cat', '/etc/systemd/nspawn/alpha.nspawn']).stdout, '[Exec]\n')
  })

  test('a clone keeps owners, modes, times, xattrs, ACLs, device nodes, FIFOs, sockets, symlinks and hard links', async () => {
    ok(sb.execSync(['python3', MANIFEST, 'build', '/var/lib/machines/rich']))
    ok(await machinectl('clone', 'rich', 'rich2'))
    ok(await machinectl('clone', '--read-only', 'rich', 'rich3'))
    const manifest = (name: string): string => sb.execSync(['python3', MANIFEST, 'manifest', `/var/lib/machines/${name}`]).stdout
    const source = manifest('rich')
    assert.match(source, /"system\.posix_acl_access"/)
    assert.match(source, /"links": "etc\/data"[^}]*"sha256"/)
    assert.equal(manifest('rich2'), source)
    assert.equal(manifest('rich3'), source)
    const status = await machinectl('image-status', 'rich2', 'rich3')
    assert.match(status.stdout, /^rich2\n[^]*RO: writable\n[^]*^rich3\n[^]*RO: read-only\n/m)
  })

  test('a raw clone keeps the holes of a sparse image', async () => {
    ok(sb.execSync(['sh', '-c', 'truncate -s 64M /var/lib/machines/sparse.raw && echo data > /var/lib/machines/sparse.raw.tmp && dd if=/var/lib/machines/sparse.raw.tmp of=/var/lib/machines/sparse.raw conv=notrunc status=none && rm /var/lib/machines/sparse.raw.tmp']))
    ok(await machinectl('clone', 'sparse', 'sparse2'))
    const blocks = statSync(join(pool.dir, 'sparse2.raw')).blocks
    assert.ok(blocks * 512 < 1 << 20, `${blocks} blocks`)
    ok(await machinectl('remove', 'sparse', 'sparse2'))
  })

  test('a clone that fails (no space) leaves neither the image nor a temporary copy, and says why', async () => {
    ok(sb.execSync(['sh', '-c', 'mkdir -p /etc/machines/big && head -c 3000000 /dev/zero > /etc/machines/big/data && mkdir -p /run/full && mount -t tmpfs -o size=1m tmpfs /run/full && mount --bind /run/full /var/lib/machines']))
    try {
      const before = sb.execSync(['ls', '-a', '/var/lib/machines']).stdout
      const r = await machinectl('clone', 'big', 'bigcopy')
      assert.equal(r.code, 1)
      assert.equal(r.stderr, 'Could not clone image: No space left on device\n')
      assert.equal(sb.execSync(['ls', '-a', '/var/lib/machines']).stdout, before)
      assert.doesNotMatch((await machinectl('list-images', '--all')).stdout, /bigcopy/)
    } finally {
      sb.execSync(['sh', '-c', 'umount /var/lib/machines; umount /run/full; rm -rf /etc/machines/big'])
    }
  })

  test('an image a systemd-nspawn container runs from cannot be removed, renamed or marked read-only until it stops', async () => {
    const tree = busyboxTree()
    try {
      cpSync(tree.path, join(pool.dir, 'bb'), { recursive: true, verbatimSymlinks: true })
      const nspawn = NspawnRun.start(sb, '/var/lib/machines/bb', sb.name('bb'), { command: ['/bin/sh', '-c', 'sleep 600'] })
      try {
        await eventually(() => existsSync(join(pool.dir, '.#bb.lck')), 20_000, 'nspawn to lock the image')
        for (const [args, text] of [[['remove', 'bb'], 'Could not remove image'], [['rename', 'bb', 'bb2'], 'Could not rename image'], [['read-only', 'bb'], 'Could not mark image read-only']] as const) {
          const r = await machinectl(...args)
          assert.equal(r.stderr, `${text}: Device or resource busy\n`, nspawn.output)
        }
        assert.ok(existsSync(join(pool.dir, 'bb')))
        const busy = await callManager(sb, 'RemoveImage', 's', 'bb')
        assert.equal(busy.errorName, 'System.Error.EBUSY')
      } finally {
        await nspawn.stop()
      }
      ok(await machinectl('remove', 'bb'))
      assert.ok(!existsSync(join(pool.dir, 'bb')))
    } finally {
      tree.remove()
    }
  })

  test('only root changes images; anybody may look', async () => {
    const nobody = asUser()
    const as = (method: string, signature: string, ...args: string[]) => busctl(sb, ['call', DEST, MANAGER_PATH, MANAGER_IFACE, method, ...(signature === '' ? [] : [signature]), ...args], nobody)
    for (const [method, signature, ...args] of [
      ['RemoveImage', 's', 'beta'], ['RenameImage', 'ss', 'beta', 'b2'], ['CloneImage', 'ssb', 'beta', 'b3', 'false'], ['MarkImageReadOnly', 'sb', 'beta', 'true'],
      ['SetImageLimit', 'st', 'beta', '1000'], ['SetPoolLimit', 't', '1000'], ['CleanPool', 's', 'all'],
    ] as const) {
      const r = await as(method, signature, ...args)
      assert.equal(r.errorName, 'org.freedesktop.DBus.Error.AccessDenied', `${method}: ${r.stderr}`)
    }
    assert.ok(existsSync(join(pool.dir, 'beta')) && !existsSync(join(pool.dir, 'b2')) && !existsSync(join(pool.dir, 'b3')))
    assert.equal((await as('GetImageOSRelease', 's', 'os')).reply, 'a{ss} 3 "ID" "rawos" "VERSION_ID" "7" "PRETTY_NAME" "Raw OS 7"')
    assert.ok((await as('ListImages', '')).ok)
  })

  test('directory images have a disk usage: measured for one image at once, for a list in the background', async () => {
    mkdirSync(join(pool.dir, 'measured'))
    writeFileSync(join(pool.dir, 'measured/blob'), Buffer.alloc(200_000, 7))
    const status = await machinectl('image-status', 'measured')
    assert.match(status.stdout, /^\t {3}Usage: 2\d\d\.\dK\n/m)
    const listed = await eventually(async () => {
      const r = await machinectl('list-images')
      return /^measured +directory no +2\d\d\.\dK /m.test(r.stdout) ? r.stdout : undefined
    }, 10_000, 'list-images to show the usage')
    assert.match(listed, /^rich +directory no +3\d\d\.\dK /m)
  })
})
