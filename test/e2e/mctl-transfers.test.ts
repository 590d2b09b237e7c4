// mctl's transfer verbs next to real machinectl 252, both against
// machined-ts: list-transfers prints the same bytes (no transfers, held
// ones, one whose progress is known; over Varlink too), bad input and
// failures print the same lines with the same exit codes, and a transfer
// says the same as it runs, but for mctl's first line (Ctrl-C cancels
// here, so it says so). On a terminal mctl draws a progress bar; Ctrl-C
// cancels the transfer and leaves nothing.
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { asUser } from '../helpers/busctl.ts'
import { eventually, REPO, type ExecResult, type Sandbox } from '../helpers/sandbox.ts'
import type { FileServer, TransferFiles } from '../helpers/transfer-files.ts'
import { normaliseTransfer } from '../helpers/transfer-scenario.ts'
import { transferRows, transferWorld, type TransferWorld } from '../helpers/transfer-world.ts'

const MCTL = [process.execPath, join(REPO, 'bin/mctl.js')]

void describe('mctl transfer verbs next to real machinectl', () => {
  let sb: Sandbox
  let pool: string
  let files: TransferFiles
  let server: FileServer
  const mctl = (...args: string[]): Promise<ExecResult> => sb.exec([...MCTL, ...args], { timeoutMs: 120_000 })
  const machinectl = (...args: string[]): Promise<ExecResult> => sb.exec(['machinectl', ...args], { timeoutMs: 120_000 })
  const count = async (): Promise<number> => (await transferRows(sb)).length
  /** What both print while a transfer runs, but the first line (its id, and what Ctrl-C does) and the progress lines. */
  const said = (r: ExecResult): string => normaliseTransfer(r.stderr.split('\n').slice(1).join('\n'), new URL(server.url).port)

  async function same(args: string[], transport?: string): Promise<void> {
    const real = await machinectl(...args)
    const ours = await mctl(...(transport === undefined ? [] : [`--transport=${transport}`]), ...args)
    const what = `\`${args.join(' ')}\`${transport === undefined ? '' : ` over ${transport}`}`
    assert.equal(ours.stdout, real.stdout, `stdout of ${what}`)
    assert.equal(ours.code, real.code, `exit code of ${what}; stderr: ${ours.stderr}`)
    assert.equal(ours.stderr, real.stderr, `stderr of ${what}`)
  }

  let world: TransferWorld

  before(async () => {
    world = await transferWorld()
    ;({ sb, pool, files, server } = world)
  })

  after(async () => { await world.stop() })

  test('list-transfers: none, three held, one with its progress known; --no-legend; over Varlink too', async () => {
    await same(['list-transfers'])
    await same(['list-transfers', '--no-legend'])
    await same(['list-transfers'], 'varlink')
    // systemd-container's bus policies are installed here: each lets users other than root list, for each name.
    for (const args of [['list-transfers'], ['list']]) {
      const r = await sb.exec([...asUser(), 'machinectl', ...args])
      assert.equal(r.code, 0, `${args.join(' ')} as nobody: ${r.stderr}`)
    }
    const held = ['h1', 'a-rather-long-local-name'].map((name) => {
      sb.execSync(['mkfifo', `/run/${name}`])
      return sb.exec(['sh', '-c', `exec machinectl import-raw - ${name} 0<>/run/${name}`], { timeoutMs: 120_000 })
    })
    server.serve('/half/t.tar', { partial: files.read('big.tar') })
    const pulling = machinectl('pull-tar', '--verify=no', `${server.url}/half/t.tar`, 'half')
    await eventually(async () => (await count()) === 3, 20_000, 'three transfers')
    await eventually(async () => / \d+% pull-tar /.test((await machinectl('list-transfers')).stdout), 20_000, 'the pull\'s progress')
    await same(['list-transfers'])
    await same(['list-transfers', '--no-legend'])
    await same(['list-transfers'], 'varlink')
    await same(['cancel-transfer', 'x'])
    await same(['cancel-transfer', '99'])
    assert.equal((await mctl('cancel-transfer', '1', '2', '3')).code, 0)
    for (const r of await Promise.all([...held, pulling])) assert.equal(r.code, 1)
    await eventually(async () => (await count()) === 0, 20_000, 'no transfers')
    await same(['list-transfers'])
  })

  test('bad input: the same lines, the same exit codes', async () => {
    for (const args of [
      ['import-tar', files.file('t.tar'), 'bad name'], ['import-tar', '/nonexistent.tar'], ['import-raw', files.file('disk.raw'), 'x/y'],
      ['import-fs', '/nonexistent'], ['export-tar', 'bad name'], ['pull-tar', 'ftp://x/y.tar'], ['pull-raw', `${server.url}/a/b`, '.host'],
      ['import-tar'], ['pull-tar', `${server.url}/x.tar`, 'x', 'y'], ['export-raw', '--format=lzma', 'x'], ['pull-tar', '--verify=maybe', `${server.url}/x.tar`],
    ]) await same(args)
  })

  test('transfers say the same as they run, and end the same', async () => {
    server.serve('/p/t.tar.gz', files.read('t.tar.gz'))
    const pairs: [string[], string[]][] = [
      [['import-tar', files.file('t.tar.gz'), 'm1'], ['import-tar', files.file('t.tar.gz'), 'm2']],
      [['import-tar', files.file('t.tar.gz'), 'm1'], ['import-tar', files.file('t.tar.gz'), 'm2']],
      [['import-raw', files.file('disk.qcow2'), 'r1'], ['import-raw', files.file('disk.qcow2'), 'r2']],
      [['import-fs', files.tree, 'f1'], ['import-fs', files.tree, 'f2']],
      [['export-tar', 'm1', files.file('m1.tar.gz')], ['export-tar', 'm2', files.file('m2.tar.gz')]],
      [['export-raw', 'nope', files.file('nope.raw')], ['export-raw', 'nope', files.file('nope.raw')]],
      [['export-tar', 'r1', files.file('r1.tar')], ['export-tar', 'r2', files.file('r2.tar')]],
      [['import-tar', files.file('abs.tar'), 'h1'], ['import-tar', files.file('abs.tar'), 'h2']],
      [['pull-tar', '--verify=no', `${server.url}/p/t.tar.gz`, 'p1'], ['pull-tar', '--verify=no', `${server.url}/p/t.tar.gz`, 'p2']],
      [['pull-tar', '--verify=no', `${server.url}/p/none.tar`, 'p3'], ['pull-tar', '--verify=no', `${server.url}/p/none.tar`, 'p4']],
    ]
    for (const [real, ours] of pairs) {
      const r = await machinectl(...real)
      const o = await mctl(...ours)
      assert.equal(o.code, r.code, `${ours.join(' ')}: ${o.stderr}`)
      assert.match(o.stderr, /^Enqueued transfer job \d+\. Press C-c to cancel the transfer\.\n/)
      const names = (s: string): string => s.replaceAll(/\b([mrfhp])[1-4]\b/g, '$1N')
      // A download's log lines come from its parallel fetches in whichever order they finish: compared as sets.
      const lines = (s: string): string => (ours[0]!.startsWith('pull') ? names(s).split('\n').sort().join('\n') : names(s))
      assert.equal(lines(said(o)), lines(said(r)), ours.join(' '))
    }
    assert.equal(sb.execSync(['sh', '-c', `tar -tzf '${files.file('m1.tar.gz')}' | sort > /run/a && tar -tzf '${files.file('m2.tar.gz')}' | sort > /run/b && cmp /run/a /run/b`]).code, 0)
  })

  test('over Varlink, a pull goes through io.systemd.Import and says the same', async () => {
    server.serve('/v/t.tar.gz', files.read('t.tar.gz'))
    const r = await machinectl('pull-tar', '--verify=no', `${server.url}/v/t.tar.gz`, 'viadbus')
    const o = await mctl('--transport=varlink', 'pull-tar', '--verify=no', `${server.url}/v/t.tar.gz`, 'viavarlink')
    assert.equal(o.code, 0, o.stderr)
    const lines = (x: ExecResult): string => said(x).replaceAll(/viadbus|viavarlink/g, 'NAME').split('\n').sort().join('\n')
    assert.equal(lines(o), lines(r))
    assert.equal((await mctl('--transport=varlink', 'pull-tar', '--verify=no', `${server.url}/v/none.tar`, 'none')).code, 1)
  })

  test('on a terminal a progress bar follows the transfer; Ctrl-C cancels it and leaves nothing', async () => {
    const before = readdirSync(pool).sort()
    server.serve('/slow/t.tar', { partial: files.read('big.tar') })
    // script(1) gives mctl a terminal; its PID goes to a file for the Ctrl-C.
    const running = sb.exec(['script', '-qfec', `sh -c 'echo $$ > /run/mctl.pid; exec ${MCTL.join(' ')} pull-tar --verify=no ${server.url}/slow/t.tar slow'`, '/dev/null'], { timeoutMs: 120_000 })
    await eventually(async () => (await count()) === 1, 20_000, 'the transfer')
    await eventually(() => readdirSync(pool).some((n) => n.startsWith('.#slow')), 20_000, 'the temporary tree')
    // The bar comes after half a second of work.
    await new Promise((r) => setTimeout(r, 1200))
    sb.execSync(['sh', '-c', 'kill -INT $(cat /run/mctl.pid)'])
    const r = await running
    assert.match(r.stdout, /\rDownloading \[#*\.*\] +\d+%/)
    assert.match(r.stdout, /Cancelling transfer \d+\.\r?\n/)
    assert.match(r.stdout, /Transfer aborted\.\r?\n/)
    await eventually(async () => (await count()) === 0, 20_000, 'no transfers')
    assert.deepEqual(readdirSync(pool).sort(), before)
  })
})
