// A guest's small files as the daemon reads them (os-release, hostname,
// machine-id, machine-info): resolved inside the guest's root, whatever
// its symlinks say, and read only if small and regular. The same cases
// run against the native reader (openat2() with RESOLVE_IN_ROOT, one trip
// to a libuv thread) and against the fallback where openat2() is refused
// (chaseInRoot() then an O_NOFOLLOW open), which must agree. The "host"
// here is a temporary directory whose files the guest's links name by
// their absolute host path or climb to with ".."; the guest must see its
// own files at those paths instead.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openat2Unavailable, readFileInRoot } from '../../src/native/guest-file.ts'
import { ChaseError, chaseInRoot } from '../../src/backends/chase.ts'
import { GUEST_FILE_MAX, readChasedFile, readGuestFileInRoot } from '../../src/backends/guest-file.ts'
import { osReleaseIn } from '../../src/backends/inspector.ts'

let host: string
let guest: string

function put(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true })
  writeFileSync(path, text)
}

function link(at: string, target: string): void {
  mkdirSync(join(guest, at, '..'), { recursive: true })
  symlinkSync(target, join(guest, at))
}

before(() => {
  host = mkdtempSync(join(tmpdir(), 'guest-file-'))
  guest = join(host, 'guest')
  put(join(host, 'x'), 'ID=host\n')
  put(join(guest, 'x'), 'ID=guest-top\n')
  // The guest's own file at the host file's absolute path.
  put(join(guest, host, 'x'), 'ID=guest-deep\n')
  put(join(guest, 'usr/lib/os-release'), 'ID=chained\n')
  link('etc/chain', '../usr/lib/os-release')
  link('etc/absolute', join(host, 'x'))
  link('etc/absolute-missing', join(host, 'nothing'))
  put(join(host, 'nothing'), 'ID=host-only\n')
  link('etc/climb', `../../../../../../../../..${host}/x`)
  link('etc/loop', 'loop')
  link('etc/dir', '../usr')
  put(join(guest, 'file'), 'a file\n')
  execFileSync('mkfifo', [join(guest, 'fifo')])
  put(join(guest, 'big'), 'ID=big\n')
  truncateSync(join(guest, 'big'), GUEST_FILE_MAX + 1)
  put(join(guest, 'max'), 'ID=max\n')
  truncateSync(join(guest, 'max'), GUEST_FILE_MAX)
})

after(() => {
  // Lets a blocked open of the FIFO (the bug) go, so the runner can end.
  closeSync(openSync(join(guest, 'fifo'), constants.O_RDWR | constants.O_NONBLOCK))
  rmSync(host, { recursive: true, force: true })
})

const readers: Record<string, (root: string, path: string) => Promise<string | undefined>> = {
  'native (openat2)': (root, path) => readFileInRoot(root, path, GUEST_FILE_MAX),
  'fallback (chaseInRoot, O_NOFOLLOW open)': async (root, path) => readChasedFile(await chaseInRoot(root, path)),
}

/** The errno a reader failed with: a system error's code, or a ChaseError's errno. */
async function failure(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  assert.ok(err instanceof Error, 'it should have failed')
  return err instanceof ChaseError ? err.errno : String((err as NodeJS.ErrnoException).code)
}

for (const [name, read] of Object.entries(readers)) {
  void describe(`a guest's file, ${name}`, () => {
    test('a chain of relative symlinks inside the root is followed', async () => {
      assert.equal(await read(guest, '/etc/chain'), 'ID=chained\n')
    })

    test('an absolute symlink resolves inside the root, never on the host', async () => {
      assert.equal(await read(guest, '/etc/absolute'), 'ID=guest-deep\n')
      assert.equal(await failure(read(guest, '/etc/absolute-missing')), 'ENOENT')
    })

    test('".." stops at the root, in a symlink and in the path asked for', async () => {
      assert.equal(await read(guest, '/etc/climb'), 'ID=guest-deep\n')
      assert.equal(await read(guest, '../x'), 'ID=guest-top\n')
      assert.equal(await read(guest, '/../../x'), 'ID=guest-top\n')
    })

    test('a FIFO is none at once, not waited on', { timeout: 5000 }, async () => {
      assert.equal(await read(guest, '/fifo'), undefined)
    })

    test('a directory is none, directly or through a symlink', async () => {
      assert.equal(await read(guest, '/usr'), undefined)
      assert.equal(await read(guest, '/etc/dir'), undefined)
    })

    test('a file of READ_FULL_BYTES_MAX is read, one byte more is none', async () => {
      assert.equal((await read(guest, '/max'))?.length, GUEST_FILE_MAX)
      assert.equal(await read(guest, '/big'), undefined)
    })

    test('missing, through a file, and a symlink loop: ENOENT, ENOTDIR, ELOOP', async () => {
      assert.equal(await failure(read(guest, '/etc/none')), 'ENOENT')
      assert.equal(await failure(read(guest, '/file/x')), 'ENOTDIR')
      assert.equal(await failure(read(guest, '/etc/loop')), 'ELOOP')
    })
  })
}

void describe('the native reader alone', () => {
  test('openat2() is there on this kernel (else the daemon uses the fallback)', async () => {
    const err = await readFileInRoot(guest, '/x', 10).then(() => undefined, (e: unknown) => e)
    assert.equal(err, undefined, `openat2 unavailable: ${String(err)}`)
    assert.equal(openat2Unavailable(Object.assign(new Error('x'), { code: 'ENOSYS', syscall: 'openat2' })), true)
    assert.equal(openat2Unavailable(Object.assign(new Error('x'), { code: 'ENOENT', syscall: 'openat2' })), false)
  })

  test('a magic link (/proc/self/root) is refused with ELOOP', async () => {
    await assert.rejects(readFileInRoot('/', `/proc/self/root${guest}/x`, GUEST_FILE_MAX), { code: 'ELOOP', syscall: 'openat2' })
  })

  test('a file that says size 0 and has more than max bytes (it grew) is none; the cap is exact', async () => {
    const status = await readFileInRoot('/', '/proc/self/status', GUEST_FILE_MAX)
    assert.match(status ?? '', /^Name:/)
    assert.equal(await readFileInRoot('/', '/proc/self/status', 16), undefined)
    assert.equal(await readFileInRoot(guest, '/x', 'ID=guest-top\n'.length), 'ID=guest-top\n')
    assert.equal(await readFileInRoot(guest, '/x', 'ID=guest-top\n'.length - 1), undefined)
  })

  test('a root that does not exist: ENOENT from its open', async () => {
    await assert.rejects(readFileInRoot(join(host, 'gone'), '/x', 10), { code: 'ENOENT', syscall: 'open' })
  })

  test('an empty file is "", not none', async () => {
    put(join(guest, 'empty'), '')
    assert.equal(await readFileInRoot(guest, '/empty', 10), '')
  })
})

void describe('os-release and the other guest files through readGuestFileInRoot()', () => {
  test('/etc/os-release first, then /usr/lib/os-release, then none', async () => {
    const root = join(host, 'os')
    put(join(root, 'usr/lib/os-release'), 'ID=usr\n')
    assert.equal((await osReleaseIn(root))?.get('ID'), 'usr')
    mkdirSync(join(root, 'etc'))
    symlinkSync('/usr/lib/os-release', join(root, 'etc/os-release'))
    assert.equal((await osReleaseIn(root))?.get('ID'), 'usr')
    rmSync(join(root, 'etc/os-release'))
    symlinkSync(join(host, 'x'), join(root, 'etc/os-release'))
    // Dangling inside the root (the host's file is not looked at): the next candidate.
    assert.equal((await osReleaseIn(root))?.get('ID'), 'usr')
    rmSync(join(root, 'etc/os-release'))
    put(join(root, 'etc/os-release'), 'ID=etc\n')
    assert.equal((await osReleaseIn(root))?.get('ID'), 'etc')
    rmSync(join(root, 'etc/os-release'))
    rmSync(join(root, 'usr/lib/os-release'))
    assert.equal(await osReleaseIn(root), undefined)
    assert.equal(await osReleaseIn(join(host, 'gone')), undefined)
  })

  test('"" is the host\'s own tree', async () => {
    assert.equal(await readGuestFileInRoot('', `${guest}/x`), 'ID=guest-top\n')
  })
})
