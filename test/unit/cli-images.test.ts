// mctl's image output helpers: sizes written and read as systemd does
// (format_bytes() truncates the tenth; parse_size() takes fractions and
// several parts), image-status's block, and the progress bar a clone
// shows on a terminal.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { formatBytes, parseSize } from '../../src/cli/output/bytes.ts'
import { startProgressBar } from '../../src/cli/progress.ts'
import { formatImageStatus } from '../../src/cli/verbs/image-status.ts'
import type { VerbContext } from '../../src/cli/verb.ts'
import { parseArguments } from '../../src/cli/options.ts'
import { UINT64_MAX } from '../../src/protocol/image.ts'

void describe('mctl image helpers', () => {
  test('format_bytes(): IEC units, the tenth truncated, B below 1K, nothing for UINT64_MAX', () => {
    const cases: [bigint, string][] = [[0n, '0B'], [1023n, '1023B'], [1024n, '1.0K'], [12_288n, '12.0K'], [1_241_088n, '1.1M'], [1_887_436n, '1.7M'], [8_392_704n, '8.0M'], [1n << 30n, '1.0G'], [(1n << 40n) * 3n / 2n, '1.5T']]
    for (const [n, text] of cases) assert.equal(formatBytes(n), text, String(n))
    assert.equal(formatBytes(UINT64_MAX), undefined)
  })

  test('parse_size(): suffixes of base 1024, fractions, blanks, several parts; no negative or unknown units', () => {
    const cases: [string, bigint][] = [['1024', 1024n], ['1K', 1024n], ['1G', 1n << 30n], ['1.5M', 1_572_864n], ['10 G', 10n << 30n], ['1G 512M', (1n << 30n) + (512n << 20n)], ['10.M', 10n << 20n], ['3B', 3n]]
    for (const [text, n] of cases) assert.equal(parseSize(text), n, text)
    for (const bad of ['lots', '-1', '1X', '', '1M 1G', '20E']) assert.equal(parseSize(bad), undefined, bad)
  })

  test('image-status: the lines machinectl prints, in its order, only those that are known', () => {
    const image = { name: 'os', path: '/var/lib/machines/os.raw', type: 'raw' as const, readOnly: true, crtime: 0n, mtime: 0n, usage: 12_288n, usageExclusive: 4096n, limit: UINT64_MAX, limitExclusive: UINT64_MAX }
    assert.equal(formatImageStatus(image, { hostname: 'h', machineId: 'ab'.repeat(16), machineInfo: { DEPLOYMENT: 'prod' }, osRelease: { PRETTY_NAME: 'X 1' } }),
      `os\n\t    Type: raw\n\t    Path: /var/lib/machines/os.raw\n\tHostname: h\n      Machine ID: ${'ab'.repeat(16)}\n      Deployment: prod\n\t      OS: X 1\n\t      RO: read-only\n\t   Usage: 12.0K (exclusive: 4.0K)\n`)
    assert.equal(formatImageStatus({ ...image, readOnly: false, usage: UINT64_MAX }, {}), 'os\n\t    Type: raw\n\t    Path: /var/lib/machines/os.raw\n\t      RO: writable\n')
  })

  test('a clone\'s progress bar: drawn on a terminal once the work takes a while, cleared when it ends; never on a pipe', async () => {
    const written: string[] = []
    const parsed = parseArguments(['clone', 'a', 'b'], 'mctl', { help: () => '', version: () => '', signalTable: () => '', signalNames: () => '' }, {})
    assert.equal(parsed.kind, 'run')
    const ctx = (columns: number | undefined): VerbContext => ({
      args: ['clone', 'a', 'b'], options: parsed.kind === 'run' ? parsed.options : (undefined as never),
      io: { out: () => undefined, err: (t) => written.push(t), terminalColumns: undefined, errTerminalColumns: columns, env: {} },
      connect: () => { throw new Error('no daemon here') },
    })
    let done = 0
    const stop = startProgressBar(ctx(60), 'Cloning', { total: async () => 1000, done: async () => (done += 250) })
    await new Promise((resolve) => setTimeout(resolve, 900))
    stop()
    // eslint-disable-next-line no-control-regex -- ESC [K is what the progress line ends with
    assert.match(written.join(''), /^\rCloning \[#+\.*\] +\d+% \d+B\/1000B\x1b\[K/)
    assert.equal(written.at(-1), '\r\x1b[K')
    written.length = 0
    startProgressBar(ctx(undefined), 'Cloning', { total: async () => 1, done: async () => 0 })()
    assert.deepEqual(written, [])
  })
})
