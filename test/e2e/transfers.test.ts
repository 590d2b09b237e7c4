// What transfers do to files, driven by real machinectl (and mctl where
// machinectl cannot: zstd) against machined-ts in a sandbox over a pool
// of its own (bind-mounted over /var/lib/machines): pulls from an HTTP
// server on 127.0.0.1 giving back the tree packed, round trips that keep
// everything tar keeps (owners, modes, times, xattrs, ACLs, hard links,
// device nodes), raw images that keep their holes, hostile tarballs, and
// transfers that fail or are cancelled half way: each a clear error, and
// nothing left in the pool, temporary copies included.
import assert from 'node:assert/strict'
import { openSync, readdirSync, statSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { busctl } from '../helpers/busctl.ts'
import { eventually, REPO, type ExecResult, type Sandbox } from '../helpers/sandbox.ts'
import { sha256, type FileServer, type TransferFiles } from '../helpers/transfer-files.ts'
import { IMPORT_DEST, IMPORT_PATH, transferRows, transferWorld, type TransferWorld } from '../helpers/transfer-world.ts'

const MANIFEST = join(REPO, 'test/helpers/tree-manifest.py')
const MCTL = [process.execPath, join(REPO, 'bin/mctl.js')]

void describe('transfers: files', () => {
  let sb: Sandbox
  let pool: string
  let files: TransferFiles
  let server: FileServer
  const machinectl = (...args: string[]): Promise<ExecResult> => sb.exec(['machinectl', ...args], { timeoutMs: 120_000 })
  const mctl = (...args: string[]): Promise<ExecResult> => sb.exec([...MCTL, ...args], { timeoutMs: 120_000 })
  const ok = (r: ExecResult): void => assert.equal(r.code, 0, r.stderr)
  /** What the pool holds, hidden entries (temporary copies) included. */
  const poolList = (): string[] => readdirSync(pool).sort()
  const manifest = (name: string): Record<string, unknown> => {
    const r = sb.execSync(['python3', MANIFEST, 'manifest', `/var/lib/machines/${name}`])
    assert.equal(r.code, 0, r.stderr)
    return JSON.parse(r.stdout) as Record<string, unknown>
  }
  const transfers = async (): Promise<number> => (await transferRows(sb)).length

  let world: TransferWorld

  before(async () => {
    world = await transferWorld()
    ;({ sb, pool, files, server } = world)
  })

  after(async () => { await world.stop() })

  test('an export and an import keep owners, modes, times, xattrs, ACLs, hard links and device nodes; import-fs keeps sockets too', async () => {
    ok(sb.execSync(['python3', MANIFEST, 'build', '/var/lib/machines/rich']))
    const source = manifest('rich')
    assert.match(JSON.stringify(source), /"system\.posix_acl_access"/)
    // tar has no sockets ("socket ignored"): everything else comes back the same.
    const { 'etc/socket': socket, ...withoutSocket } = source
    assert.ok(socket !== undefined)
    ok(await machinectl('export-tar', 'rich', files.file('rich.tar.xz')))
    const imported = await machinectl('import-tar', files.file('rich.tar.xz'), 'rich2')
    ok(imported)
    assert.deepEqual(manifest('rich2'), withoutSocket)
    // zstd, which machinectl 252 does not know, through mctl.
    ok(await mctl('export-tar', 'rich', files.file('rich.tar.zst')))
    assert.equal(sb.execSync(['sh', '-c', `head -c 4 '${files.file('rich.tar.zst')}' | od -An -tx1`]).stdout.trim(), '28 b5 2f fd')
    ok(await mctl('import-tar', files.file('rich.tar.zst'), 'rich3'))
    assert.deepEqual(manifest('rich3'), withoutSocket)
    ok(await machinectl('import-fs', '/var/lib/machines/rich', 'rich4'))
    assert.deepEqual(manifest('rich4'), source)
    assert.deepEqual(poolList().filter((n) => n.startsWith('.')), [])
  })

  test('a raw export and import give the same bytes back, and keep the holes', async () => {
    ok(sb.execSync(['sh', '-c', 'truncate -s 64M /var/lib/machines/sparse.raw && echo start | dd of=/var/lib/machines/sparse.raw conv=notrunc status=none && echo end | dd of=/var/lib/machines/sparse.raw bs=1M seek=63 conv=notrunc status=none']))
    ok(await machinectl('export-raw', 'sparse', files.file('sparse.raw.gz')))
    ok(await machinectl('import-raw', files.file('sparse.raw.gz'), 'sparse2'))
    ok(await mctl('export-raw', '--format=zstd', 'sparse', files.file('sparse.raw.zst')))
    ok(await mctl('import-raw', files.file('sparse.raw.zst'), 'sparse3'))
    for (const copy of ['sparse2', 'sparse3']) {
      ok(sb.execSync(['cmp', '/var/lib/machines/sparse.raw', `/var/lib/machines/${copy}.raw`]))
      assert.ok(statSync(join(pool, `${copy}.raw`)).blocks * 512 < 1 << 20, `${copy} is sparse`)
    }
  })

  test('hostile or broken tarballs: each a clear error, and the pool as it was', async () => {
    const cases: [string, RegExp][] = [
      ['abs.tar', /^tar: Removing leading `\/' from member names\nArchive has members whose names lead out of the image \(absolute, or through ".."\), refusing\.$/m],
      ['dotdot.tar', /^tar: Removing leading `a\/\.\.\/\.\.\/' from member names$[^]*^Archive has members whose names lead out of the image/m],
      ['symesc.tar', /^tar: esc\/pwned: Cannot open: Not a directory$/m],
      ['hardabs.tar', /^tar: Removing leading `\/' from hard link targets$/m],
      ['trunc.tar', /^Archive ends without its end-of-archive block: it is truncated, refusing\.$/m],
      ['noeof.tar', /^Archive ends without its end-of-archive block: it is truncated, refusing\.$/m],
      ['cut.tar.gz', /^Failed to decode and write: unexpected end of file\.$/m],
      ['absbig.tar.gz', /^tar: Removing leading `\/' from member names\nArchive has members whose names lead out of the image \(absolute, or through ".."\), refusing\.$/m],
    ]
    const before = poolList()
    for (const [file, expected] of cases) {
      const r = await machinectl('import-tar', files.file(file), 'hostile')
      assert.equal(r.code, 1, `${file}: ${r.stderr}`)
      assert.match(r.stderr, expected, file)
      assert.match(r.stderr, /^Exiting\.$/m, file)
      assert.deepEqual(poolList(), before, file)
    }
    // Nothing was written through the symlink to /tmp.
    assert.equal(sb.execSync(['test', '-e', '/tmp/pwned']).code, 1)
  })

  test('device nodes: an import keeps them, a download may make none', async () => {
    ok(await machinectl('import-tar', files.file('dev.tar'), 'withdev'))
    assert.equal(sb.execSync(['stat', '-c', '%F %t:%T', '/var/lib/machines/withdev/dev/sda']).stdout, 'block special file 8:0\n')
    server.serve('/dev.tar', files.read('dev.tar'))
    const before = poolList()
    const r = await machinectl('pull-tar', '--verify=no', `${server.url}/dev.tar`, 'pulleddev')
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, /^tar: \.?\/?dev\/sda: Cannot mknod: Operation not permitted$/m)
    assert.deepEqual(poolList(), before)
  })

  test('a cancelled import, half read from a pipe, leaves nothing', async () => {
    const before = poolList()
    sb.execSync(['mkfifo', '/run/half'])
    const waiting = sb.exec(['sh', '-c', 'exec machinectl import-tar - half 0<>/run/half'], { timeoutMs: 120_000 })
    await eventually(async () => (await transfers()) === 1, 20_000, 'the transfer')
    const fifo = openSync(sb.hostPath('/run/half'), 'w')
    writeSync(fifo, files.read('big.tar').subarray(0, 60_000))
    closeSync(fifo)
    await eventually(() => poolList().some((n) => n.startsWith('.#half')), 20_000, 'the temporary tree')
    ok(await machinectl('cancel-transfer', String(await firstTransferId(sb))))
    const r = await waiting
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^Transfer aborted\.\nExiting\.$/m)
    await eventually(async () => (await transfers()) === 0, 20_000, 'no transfers')
    assert.deepEqual(poolList(), before)
  })

  test('a download cancelled half way leaves nothing; it reported its progress meanwhile', async () => {
    const before = poolList()
    server.serve('/half/big.tar', { partial: files.read('big.tar') })
    const waiting = machinectl('pull-tar', '--verify=no', `${server.url}/half/big.tar`, 'halfway')
    await eventually(() => poolList().some((n) => n.startsWith('.#halfway')), 20_000, 'the temporary tree')
    const id = await firstTransferId(sb)
    const progress = await eventually(async () => {
      const r = await busctl(sb, ['get-property', IMPORT_DEST, `${IMPORT_PATH}/transfer/_${id}`, 'org.freedesktop.import1.Transfer', 'Progress'])
      const value = Number(/^d (\S+)$/.exec(r.reply)?.[1])
      return value > 0 ? value : undefined
    }, 20_000, 'progress')
    assert.ok(progress > 0 && progress < 1, `progress ${progress}`)
    assert.match((await machinectl('list-transfers')).stdout, new RegExp(`^ *${id} +${Math.trunc(progress * 100)}% pull-tar `, 'm'))
    ok(await machinectl('cancel-transfer', String(id)))
    const r = await waiting
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^Transfer aborted\.$/m)
    await eventually(async () => (await transfers()) === 0, 20_000, 'no transfers')
    assert.deepEqual(poolList(), before)
  })

  test('pulls from an HTTP server on 127.0.0.1, without and with a checksum, give back the tree that was packed', async () => {
    // GNU tar's default format keeps whole seconds: times are compared at that.
    const seconds = (m: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(m).map(([path, entry]) => {
      const { mtime, ...rest } = entry as { mtime: number }
      return [path, { ...rest, mtime: Math.floor(mtime / 1e9) }]
    }))
    const packed = seconds(JSON.parse(sb.execSync(['python3', MANIFEST, 'manifest', files.tree]).stdout) as Record<string, unknown>)
    const tarGz = files.read('t.tar.gz')
    server.serve('/http/t.tar.gz', tarGz)
    server.serve('/http/SHA256SUMS', Buffer.from(`${sha256(tarGz)} *t.tar.gz\n`))
    ok(await machinectl('pull-tar', '--verify=no', `${server.url}/http/t.tar.gz`, 'http1'))
    const checked = await machinectl('pull-tar', '--verify=checksum', `${server.url}/http/t.tar.gz`, 'http2')
    ok(checked)
    assert.match(checked.stderr, new RegExp(`^SHA256 checksum of ${server.url}/http/t\\.tar\\.gz is valid\\.$`, 'm'))
    for (const name of ['http1', 'http2']) assert.deepEqual(seconds(manifest(name)), packed, name)
    assert.deepEqual(poolList().filter((n) => n.startsWith('.')), [])
  })

  test('a pull from a file: URL, checked against the SHA256SUMS next to it', async () => {
    const dir = files.dir
    ok(sb.execSync(['sh', '-c', `cd '${dir}' && sha256sum --binary t.tar.xz > SHA256SUMS`]))
    const r = await machinectl('pull-tar', '--verify=checksum', `file://${dir}/t.tar.xz`, 'fromfile')
    ok(r)
    assert.match(r.stderr, new RegExp(`^SHA256 checksum of file://${dir}/t\\.tar\\.xz is valid\\.$`, 'm'))
    assert.equal(sb.execSync(['cat', '/var/lib/machines/fromfile/etc/motd']).stdout, 'hello from a tarball\n')
  })

  test('a checksum that does not check out, a signature that cannot be checked and a missing file leave nothing', async () => {
    const before = poolList()
    server.serve('/bad/t.tar', files.read('t.tar'))
    server.serve('/bad/SHA256SUMS', Buffer.from(`${'0'.repeat(64)} *t.tar\n`))
    const mismatch = await machinectl('pull-tar', '--verify=checksum', `${server.url}/bad/t.tar`, 'bad1')
    assert.equal(mismatch.code, 1)
    assert.match(mismatch.stderr, /^DOWNLOAD INVALID: Checksum of t\.tar file did not check out, file has been tampered with\.$/m)
    const unsigned = await machinectl('pull-tar', `${server.url}/bad/t.tar`, 'bad2')
    assert.equal(unsigned.code, 1)
    assert.match(unsigned.stderr, /^(DOWNLOAD INVALID: Checksum|Failed to retrieve signature file)/m)
    const missing = await machinectl('pull-raw', '--verify=no', `${server.url}/nothere.raw`, 'bad3')
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /^Failed to retrieve image file\.$/m)
    assert.deepEqual(poolList(), before)
  })
})

/** The id of the one transfer under way. */
async function firstTransferId(sb: Sandbox): Promise<number> {
  const rows = await transferRows(sb)
  assert.equal(rows.length, 1)
  return rows[0]![0]
}
