// mctl's image verbs next to real machinectl 252, both against machined-ts
// over the same test pool: list-images, image-status and show-image print
// the same bytes (relative times normalised: the two runs are seconds
// apart), failures print the same lines with the same exit codes and
// change nothing, and the changing verbs do what machinectl's do. Over
// Varlink (io.systemd.MachineImage) mctl prints the same too.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { imageSandbox, type ImageWorld, type TestPool } from '../helpers/image-pool.ts'
import { normalise } from '../helpers/image-scenario.ts'
import { REPO, type ExecResult, type Sandbox } from '../helpers/sandbox.ts'

const MCTL = [process.execPath, join(REPO, 'bin/mctl.js')]
const relative = (s: string): string => s.replace(/; [^;\n]*\bago$/gm, '; AGO')

void describe('mctl image verbs next to real machinectl', () => {
  let pool: TestPool
  let sb: Sandbox
  const mctl = (...args: string[]): Promise<ExecResult> => sb.exec([...MCTL, ...args], { timeoutMs: 120_000 })
  const machinectl = (...args: string[]): Promise<ExecResult> => sb.exec(['machinectl', ...args], { timeoutMs: 120_000 })

  async function same(args: string[], transport?: string): Promise<ExecResult> {
    const real = await machinectl(...args)
    const ours = await mctl(...(transport === undefined ? [] : [`--transport=${transport}`]), ...args)
    const what = `\`${args.join(' ')}\`${transport === undefined ? '' : ` over ${transport}`}`
    assert.equal(relative(ours.stdout), relative(real.stdout), `stdout of ${what}`)
    assert.equal(ours.code, real.code, `exit code of ${what}; stderr: ${ours.stderr}`)
    assert.equal(ours.stderr, real.stderr, `stderr of ${what}`)
    return real
  }

  let world: ImageWorld

  before(async () => {
    world = await imageSandbox()
    ;({ pool, sb } = world)
    // Measured before the comparisons start, so both tools see the same sizes.
    await machinectl('image-status', 'alpha', 'beta', 'frozen', '.hidden', 'etcimg', 'vendor1')
  })
  after(async () => { await world.stop() })

  const reading = [
    ['list-images'], ['list-images', '--all'], ['list-images', '--no-legend'], ['list-images', '-a', '--full'], ['list-images', '--output=json'],
    ['list-images', '-a', '-o', 'json-pretty'], ['list-images', '-o', 'json-seq'],
    ['image-status', 'alpha', 'os', 'rodisk', '.hidden', 'vendor1', 'etcimg', 'frozen'], ['image-status'], ['image-status', 'nope'], ['image-status', 'alpha', 'nope', 'beta'],
    ['show-image', 'alpha'], ['show-image', 'os', 'rodisk'], ['show-image', 'alpha', '--all'], ['show-image', 'os', '-p', 'Type', '--value'],
    ['show-image', 'alpha', '-p', 'Usage', '-p', 'Limit'], ['show-image'], ['show-image', 'nope'],
  ]
  for (const args of reading) it(`\`${args.join(' ')}\` prints what machinectl prints`, async () => { await same(args) })

  it('squeezes the images table to a narrow terminal the same way', async () => {
    const onTty = async (cmd: string[]): Promise<string> => (await sb.exec(['script', '-qec', `COLUMNS=50 ${cmd.join(' ')} --no-pager list-images --all`, '/dev/null'])).stdout
    const real = await onTty(['machinectl'])
    assert.match(real, /…/)
    assert.equal(await onTty(MCTL), real)
  })

  it('over Varlink: the same listings and status', async () => {
    for (const args of [['list-images', '--all'], ['list-images', '-o', 'json'], ['image-status', 'alpha', 'os', 'rodisk'], ['show-image', 'os'], ['image-status', 'nope']]) {
      await same(args, 'varlink')
    }
  })

  it('failures: the same lines and exit codes, and the pool unchanged', async () => {
    const before = sb.execSync(['ls', '-a', '/var/lib/machines', '/usr/lib/machines']).stdout
    for (const args of [
      ['clone', 'alpha', 'beta'], ['clone', 'alpha', '.host'], ['clone', 'nope', 'x'], ['clone', 'alpha', 'bad/name'], ['rename', 'alpha', 'beta'],
      ['rename', '.host', 'x'], ['rename', 'alpha', '.host'], ['rename', 'vendor1', 'v2'], ['read-only', 'alpha', 'maybe'], ['read-only', 'vendor1'],
      ['remove', 'nope'], ['remove', '.host'], ['remove', 'vendor1'], ['set-limit', '1G'], ['set-limit', 'alpha', '1G'], ['set-limit', 'alpha', 'lots'],
      ['rename', 'alpha'], ['clone', 'alpha'],
    ]) {
      await same(args)
      for (const transport of ['varlink']) {
        if (args[0] === 'set-limit' && args.length === 2) continue
        const ours = await mctl(`--transport=${transport}`, ...args)
        assert.equal(ours.code, 1, `${args.join(' ')} over ${transport}`)
      }
    }
    assert.equal(sb.execSync(['ls', '-a', '/var/lib/machines', '/usr/lib/machines']).stdout, before)
  })

  it('clone, rename, read-only, remove and clean do what machinectl\'s do', async () => {
    assert.equal((await mctl('clone', 'alpha', 'm1')).code, 0)
    assert.equal((await machinectl('clone', 'alpha', 'm2')).code, 0)
    assert.equal((await mctl('clone', '--read-only', 'os', 'os2')).code, 0)
    assert.equal((await mctl('--transport=varlink', 'rename', 'm1', 'm3')).code, 0)
    assert.equal((await mctl('read-only', 'm3')).code, 0)
    const listed = normalise((await mctl('list-images')).stdout)
    assert.match(listed, /^m2 +directory no /m)
    assert.match(listed, /^m3 +directory yes /m)
    assert.match(listed, /^os2 +raw +yes /m)
    assert.equal((await mctl('read-only', 'm3', 'false')).code, 0)
    assert.equal((await mctl('remove', 'm3', 'm2', 'os2')).code, 0)
    for (const n of ['m1', 'm2', 'm3', 'os2.raw']) assert.ok(!existsSync(join(pool.dir, n)), n)
    sb.execSync(['mkdir', '/var/lib/machines/.h1', '/var/lib/machines/.h2'])
    const real = await machinectl('clean')
    sb.execSync(['mkdir', '/var/lib/machines/.h1', '/var/lib/machines/.h2', '/var/lib/machines/.hidden'])
    const ours = await mctl('clean')
    assert.equal(normalise(ours.stderr), normalise(real.stderr))
    assert.equal(ours.code, 0)
    assert.match(ours.stderr, /^Removed 3 images in total\.$/m)
  })
})
