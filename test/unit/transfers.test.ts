// Transfers without the file system: import-util.c's names and URLs, the
// compression signatures, the checksum lines systemd-pull accepts, the
// registry (ids, the limit, events, cancelling as importd does) and the
// methods' checks in importd 252's order, machinectl's list-transfers
// table against the one captured from machinectl 252, and import1's
// introspection against systemd-importd 252's.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { detectCompression } from '../../src/backends/transfer-compress.ts'
import { checksumListed, isChecksumFile, isSignatureFile } from '../../src/backends/transfer-verify.ts'
import { formatTransfers } from '../../src/cli/verbs/transfers.ts'
import { Authorizer } from '../../src/core/authorization.ts'
import { cancelTransferById, exportImage, importImage, pullImage, type FdKind, type TransferContext } from '../../src/core/transfer-control.ts'
import { Transfers } from '../../src/core/transfers.ts'
import { IMPORT_MANAGER_INTERFACE, TRANSFER_INTERFACE } from '../../src/protocol/dbus/org.freedesktop.import1.ts'
import { MachinedError } from '../../src/protocol/errors.ts'
import {
  exportFormatFromFileName, localNameFromUrl, PROGRESS_UNKNOWN, pullUrlIsValid, rawStripSuffixes, tarStripSuffixes, transferIdOfLabel,
  urlChangeLastComponent, urlLastComponent, type TransferRecord,
} from '../../src/protocol/transfer.ts'
import { introspectXml } from '../../src/transports/dbus/introspect.ts'
import { FakeLog } from '../fakes/log.ts'
import { FakeTransferer } from '../fakes/transferer.ts'

const GOLDEN = new URL('../fixtures/importd-252/', import.meta.url)
const steps = JSON.parse(readFileSync(new URL('scenario.json', GOLDEN), 'utf8')) as { name: string; output: string }[]
const step = (name: string, nth = 0): string => steps.filter((s) => s.name === name)[nth]!.output

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    if (err instanceof MachinedError) return `${err.code}: ${err.message}`
    throw err
  }
  return undefined
}

async function codeOfAsync(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
  } catch (err) {
    if (err instanceof MachinedError) return `${err.code}: ${err.message}`
    throw err
  }
  return undefined
}

void describe('names and URLs (import-util.c, web-util.c)', () => {
  test('http(s):// and file:/ URLs with something after them, ASCII only', () => {
    for (const ok of ['http://x', 'https://example.com/a.tar', 'file:///srv/a.tar']) assert.ok(pullUrlIsValid(ok), ok)
    for (const bad of ['', 'http://', 'ftp://x/y', 'file:/', 'http://ü/x', 'x']) assert.ok(!pullUrlIsValid(bad), bad)
  })

  test('the last component, query and fragment ignored; replaced the same way', () => {
    assert.equal(urlLastComponent('http://h/a/b.tar.gz?x=1#f'), 'b.tar.gz')
    assert.equal(urlLastComponent('http://h/a/b/'), 'b')
    assert.equal(urlLastComponent('http://h/'), undefined)
    assert.equal(urlLastComponent('http://h'), undefined)
    assert.equal(urlChangeLastComponent('http://h/a/b.tar.gz?x=1', 'SHA256SUMS'), 'http://h/a/SHA256SUMS')
    assert.equal(urlChangeLastComponent('http://h/b.tar', 'b.tar.sha256'), 'http://h/b.tar.sha256')
  })

  test('suffixes machinectl strips, and the names pulls get from their URL', () => {
    assert.equal(tarStripSuffixes('debian.tar.xz'), 'debian')
    assert.equal(tarStripSuffixes('x.tgz'), 'x')
    assert.equal(tarStripSuffixes('plain'), 'plain')
    assert.equal(rawStripSuffixes('disk.raw.xz'), 'disk')
    assert.equal(rawStripSuffixes('f.qcow2.gz'), 'f')
    assert.equal(localNameFromUrl('tar', 'https://h/fedora.tar.gz'), 'fedora')
    assert.equal(localNameFromUrl('raw', 'https://h/bad_name.raw'), undefined)
    assert.equal(exportFormatFromFileName('/x.tar.xz'), 'xz')
    assert.equal(exportFormatFromFileName('/x.tar'), undefined)
    assert.equal(transferIdOfLabel('_12'), 12)
    for (const bad of ['_0', '12', '_', '_4294967296', '_1a']) assert.equal(transferIdOfLabel(bad), undefined, bad)
  })
})

void describe('compression and checksums', () => {
  test('the signatures of xz, gzip, bzip2 and zstd; more bytes asked for while a prefix could still be one', () => {
    assert.equal(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), false), 'xz')
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 0x08]), false), 'gzip')
    assert.equal(detectCompression(Buffer.from('BZh9'), false), 'bzip2')
    assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), false), 'zstd')
    assert.equal(detectCompression(Buffer.from('./etc/'), false), 'uncompressed')
    assert.equal(detectCompression(Buffer.from([0xfd, 0x37]), false), undefined)
    assert.equal(detectCompression(Buffer.from([0xfd, 0x37]), true), 'uncompressed')
  })

  test('a SHA256 line counts in binary or text mode, at the start of a line only', () => {
    const hash = 'ab'.repeat(32)
    assert.ok(checksumListed(Buffer.from(`x\n${hash} *t.tar\n`), hash, 't.tar'))
    assert.ok(checksumListed(Buffer.from(`${hash}  t.tar\n`), hash, 't.tar'))
    assert.ok(!checksumListed(Buffer.from(`0${hash} *t.tar\n`), hash, 't.tar'))
    assert.ok(!checksumListed(Buffer.from(`${hash} *t.tar.gz\n`), hash, 't.tar'))
    assert.ok(!checksumListed(Buffer.from(`${hash} *t.tar`), hash, 't.tar'))
    assert.ok(isChecksumFile('SHA256SUMS') && isChecksumFile('a.sha256') && !isChecksumFile('a.tar'))
    assert.ok(isSignatureFile('SHA256SUMS.gpg') && isSignatureFile('a.sha256') && !isSignatureFile('SHA256SUMS'))
  })
})

function world(max = 64): { ctx: TransferContext; runner: FakeTransferer; closed: number[]; log: FakeLog } {
  const runner = new FakeTransferer()
  const log = new FakeLog()
  const closed: number[] = []
  const kinds: Record<number, FdKind> = { 10: 'regular', 11: 'fifo', 12: 'directory', 13: 'other' }
  const ctx: TransferContext = {
    transfers: new Transfers({ runner, log, max }),
    authorizer: new Authorizer({ allowUserRegistration: false }),
    fdKind: async (fd) => kinds[fd] ?? 'other',
    closeFd: (fd) => closed.push(fd),
  }
  return { ctx, runner, closed, log }
}

const root = { uid: 0, pid: 1 }
const nobody = { uid: 65534, pid: 2 }

void describe('the registry and the methods', () => {
  test('ids count up from 1; TransferNew, LogMessage, TransferRemoved with done, failed or canceled', async () => {
    const { ctx, runner } = world()
    const events: string[] = []
    ctx.transfers.on({
      transferNew: (t) => events.push(`new ${t.id} ${t.path}`),
      logMessage: (t, p, line) => events.push(`log ${t.id} ${p} ${line}`),
      transferRemoved: (t, result) => events.push(`removed ${t.id} ${result}`),
      progress: (t) => events.push(`progress ${t.id} ${t.progress}`),
    })
    const a = await importImage(ctx, { type: 'import-tar', fd: 10, local: 'a', force: false, readOnly: false }, root)
    const b = pullImage(ctx, { type: 'pull-raw', url: 'http://h/b.raw', local: '', verify: '', force: true }, root)
    const c = await exportImage(ctx, { type: 'export-tar', local: 'a', fd: 11, format: 'xz' }, root)
    assert.deepEqual([a.id, b.id, c.id], [1, 2, 3])
    assert.deepEqual([b.local, b.verify, b.remote, a.verify, a.progress], ['b', 'signature', 'http://h/b.raw', '', PROGRESS_UNKNOWN])
    runner.jobs[0]!.sink.log(6, 'Importing.')
    runner.jobs[0]!.sink.progress(50)
    runner.jobs[0]!.succeed()
    runner.jobs[1]!.fail()
    cancelTransferById(ctx, 3, root)
    runner.jobs[2]!.fail()
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(events, [
      'new 1 /org/freedesktop/import1/transfer/_1', 'new 2 /org/freedesktop/import1/transfer/_2', 'new 3 /org/freedesktop/import1/transfer/_3',
      'log 1 6 Importing.', 'progress 1 0.5', 'removed 1 done', 'removed 2 failed', 'removed 3 canceled',
    ])
    assert.deepEqual(ctx.transfers.list(), [])
  })

  test('Cancel is SIGTERM three times, then SIGKILL (transfer_cancel())', async () => {
    const { ctx, runner } = world()
    await importImage(ctx, { type: 'import-raw', fd: 11, local: 'x', force: false, readOnly: false }, root)
    for (let i = 0; i < 5; i++) cancelTransferById(ctx, 1, root)
    assert.deepEqual(runner.jobs[0]!.cancels, [false, false, false, true, true])
  })

  test('at most the limit at once: E2BIG, as importd answers; the fd of a refused call is closed', async () => {
    const { ctx, closed } = world(2)
    await importImage(ctx, { type: 'import-tar', fd: 10, local: 'a', force: false, readOnly: false }, root)
    pullImage(ctx, { type: 'pull-tar', url: 'http://h/x.tar', local: 'x', verify: 'no', force: false }, root)
    assert.equal(await codeOfAsync(importImage(ctx, { type: 'import-tar', fd: 11, local: 'b', force: false, readOnly: false }, root)), 'FAILED: Argument list too long')
    assert.deepEqual(closed, [11])
    assert.equal(codeOf(() => pullImage(ctx, { type: 'pull-tar', url: 'http://h/y.tar', local: 'y', verify: 'no', force: false }, root)), 'FAILED: Argument list too long')
  })

  test('the checks, in importd 252\'s order and words', async () => {
    const { ctx, closed } = world()
    const imp = (over: Partial<Parameters<typeof importImage>[1]>, caller = root): Promise<string | undefined> =>
      codeOfAsync(importImage(ctx, { type: 'import-tar', fd: 10, local: 'ok', force: false, readOnly: false, ...over }, caller))
    assert.equal(await imp({ fd: 12, local: 'bad name' }, nobody), 'ACCESS_DENIED: Permission denied')
    assert.equal(await imp({ fd: 12, local: 'bad name' }), 'INVALID_ARGS: Invalid argument')
    assert.equal(await imp({ fd: 13 }), 'INVALID_ARGS: Invalid argument')
    assert.equal(await imp({ local: 'bad name' }), 'INVALID_ARGS: Local name bad name is invalid')
    assert.equal(await imp({ local: '.host' }), 'INVALID_ARGS: Local name .host is invalid')
    assert.equal(await imp({ type: 'import-fs', fd: 10 }), 'FAILED: Not a directory')
    assert.equal(await imp({ type: 'import-fs', fd: 12 }), undefined)
    assert.deepEqual(closed, [12, 12, 13, 10, 10, 10])
    const exp = (over: Partial<Parameters<typeof exportImage>[1]>): Promise<string | undefined> =>
      codeOfAsync(exportImage(ctx, { type: 'export-raw', local: 'ok', fd: 11, format: '', ...over }, root))
    assert.equal(await exp({ local: 'a b', fd: 12 }), 'INVALID_ARGS: Local name a b is invalid')
    assert.equal(await exp({ fd: 12 }), 'INVALID_ARGS: Invalid argument')
    const pull = (over: Partial<Parameters<typeof pullImage>[1]>, caller = root): string | undefined =>
      codeOf(() => pullImage(ctx, { type: 'pull-tar', url: 'http://h/p.tar', local: 'p', verify: 'no', force: false, ...over }, caller))
    assert.equal(pull({ url: 'ftp://h/x' }, nobody), 'ACCESS_DENIED: Permission denied')
    assert.equal(pull({ url: 'ftp://h/x', local: 'a b' }), 'INVALID_ARGS: URL ftp://h/x is invalid')
    assert.equal(pull({ local: 'a b', verify: 'maybe' }), 'INVALID_ARGS: Local name a b is invalid')
    assert.equal(pull({ verify: 'maybe' }), 'INVALID_ARGS: Unknown verification mode maybe')
    assert.equal(pull({ url: 'http://h/' , local: '' }), 'INVALID_ARGS: Cannot derive a local name from URL http://h/')
    assert.equal(pull({}), undefined)
    assert.equal(pull({ local: 'q' }), 'TRANSFER_IN_PROGRESS: Transfer for http://h/p.tar already in progress.')
    assert.equal(pull({ type: 'pull-raw' }), undefined)
    assert.equal(codeOf(() => cancelTransferById(ctx, 1, nobody)), 'ACCESS_DENIED: Permission denied')
    assert.equal(codeOf(() => cancelTransferById(ctx, 0, root)), 'INVALID_ARGS: Invalid transfer id')
    assert.equal(codeOf(() => cancelTransferById(ctx, 77, root)), 'NO_SUCH_TRANSFER: No transfer by id 77')
  })
})

void describe('as systemd and machinectl 252 print it', () => {
  const held: TransferRecord[] = [
    { id: 1, type: 'import-tar', remote: '', local: 'held-one', progress: PROGRESS_UNKNOWN, path: '' },
    { id: 2, type: 'import-raw', remote: '', local: 'h2', progress: PROGRESS_UNKNOWN, path: '' },
    // Ephemeral ports have five digits: the capture's widths are those of one.
    { id: 3, type: 'pull-tar', remote: 'http://127.0.0.1:40000/stall/t.tar', local: 'stalled', progress: PROGRESS_UNKNOWN, path: '' },
  ]
  const format = (records: readonly TransferRecord[], legend: boolean): string => formatTransfers(records, legend).replaceAll(':40000/', ':PORT/')

  test('list-transfers, with and without a legend, and with none', () => {
    const golden = (nth: number): string => step('machinectl list-transfers', nth).replace(/^exit 0\n/, '').replace(/--- stderr\n$/, '')
    assert.equal(format(held, true), golden(1))
    assert.equal(format([], true), golden(0))
    assert.equal(format(held, false), step('machinectl list-transfers --no-legend', 1).replace(/^exit 0\n/, '').replace(/--- stderr\n$/, ''))
    assert.equal(formatTransfers([], false), '')
  })

  test('a known progress: (unsigned) (progress * 100), right-aligned in six columns and a "%"; ids widen the first column', () => {
    const out = formatTransfers([{ id: 1234, type: 'pull-raw', remote: 'http://h/x.raw', local: 'x', progress: 0.426, path: '' }], false)
    assert.equal(out, '1234     42% pull-raw x     http://h/x.raw\n')
  })

  test('introspection of the Manager and of a Transfer object', () => {
    assert.equal(introspectXml([IMPORT_MANAGER_INTERFACE], ['transfer']), readFileSync(new URL('introspect-manager.xml', GOLDEN), 'utf8'))
    assert.equal(introspectXml([TRANSFER_INTERFACE], []), step('Introspect /org/freedesktop/import1/transfer/_1'))
    assert.equal(introspectXml([], ['_1', '_2', '_3']), step('Introspect /org/freedesktop/import1/transfer', 1))
  })
})
