// machined-gunzip (native/gunzip), run directly as the transfers run it
// (stdin the compressed file or pipe, stdout the pipe to tar): what it
// decodes, what it refuses and in which words (the transfer's "Failed to
// decode and write: WHY." takes them), and that a reader that goes away
// ends it by SIGPIPE, which the transfer tells from a failure of its own.
// Whole imports through it are test/e2e/transfers.test.ts's.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { GUNZIP_PROGRAM } from '../../src/native/addon.ts'

const dir = mkdtempSync(join(tmpdir(), 'native-gunzip-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function gunzip(input: Buffer): { out: Buffer; err: string; code: number | null } {
  const r = spawnSync(GUNZIP_PROGRAM, [], { input, maxBuffer: 64 << 20 })
  return { out: r.stdout, err: r.stderr.toString(), code: r.status }
}

void describe('machined-gunzip', () => {
  it('decodes a stream, and members one after the other with zero bytes between and after them', () => {
    const a = Buffer.concat([randomBytes(300_000), Buffer.from('text '.repeat(100_000))])
    const b = Buffer.from('second member\n')
    const one = gunzip(gzipSync(a, { level: 1 }))
    assert.equal(one.code, 0, one.err)
    assert.ok(one.out.equals(a))
    const two = gunzip(Buffer.concat([gzipSync(a), Buffer.alloc(1000), gzipSync(b), Buffer.alloc(7)]))
    assert.equal(two.code, 0, two.err)
    assert.ok(two.out.equals(Buffer.concat([a, b])))
  })

  it('a stream cut off, an empty one, and anything but a member after a member: exit 1 and one line why', () => {
    const gz = gzipSync(randomBytes(100_000))
    assert.deepEqual({ ...gunzip(gz.subarray(0, gz.length - 20)), out: undefined }, { out: undefined, err: 'unexpected end of file\n', code: 1 })
    assert.deepEqual({ ...gunzip(Buffer.alloc(0)), out: undefined }, { out: undefined, err: 'unexpected end of file\n', code: 1 })
    assert.deepEqual({ ...gunzip(Buffer.alloc(64)), out: undefined }, { out: undefined, err: 'unexpected end of file\n', code: 1 })
    assert.deepEqual({ ...gunzip(Buffer.concat([gz, Buffer.from('garbage')])), out: undefined }, { out: undefined, err: 'incorrect header check\n', code: 1 })
    // The CRC-32 in the member's trailer (its last 8 bytes: CRC, then size) no longer matches.
    const corrupt = Buffer.from(gz)
    corrupt[gz.length - 8]! ^= 0xff
    assert.deepEqual({ ...gunzip(corrupt), out: undefined }, { out: undefined, err: 'incorrect data check\n', code: 1 })
  })

  it('ends by SIGPIPE once its reader goes away', async () => {
    const file = join(dir, 'big.gz')
    writeFileSync(file, gzipSync(randomBytes(8 << 20), { level: 1 }))
    const fd = openSync(file, 'r')
    const child = spawn(GUNZIP_PROGRAM, [], { stdio: [fd, 'pipe', 'pipe'] })
    closeSync(fd)
    let err = ''
    child.stderr!.setEncoding('utf8').on('data', (c: string) => { err += c })
    child.stdout!.once('data', () => child.stdout!.destroy())
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])))
    assert.deepEqual({ code, signal, err }, { code: null, signal: 'SIGPIPE', err: '' })
  })
})
