// machined-vmspawn's command line: vmspawn's names and defaults, and every
// bad input rejected with a one-line message before anything happens.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCommandLine, parseRamMiB, UsageError, type VmspawnOptions } from '../../src/vmspawn/options.ts'

function run(...argv: string[]): VmspawnOptions {
  const r = parseCommandLine(argv)
  assert.equal(r.kind, 'run')
  return (r as { options: VmspawnOptions }).options
}

function fails(argv: string[], message: RegExp): void {
  assert.throws(() => parseCommandLine(argv), (err: unknown) => {
    assert.ok(err instanceof UsageError)
    assert.match(err.message, message)
    assert.equal(err.message.includes('\n'), false, 'one line')
    return true
  })
}

describe('machined-vmspawn options', () => {
  test('defaults: 1 CPU, 2G, auto accel, console by terminal, registered, 30 s SIGTERM timeout, random UUID', () => {
    assert.deepEqual(run('-M', 'vm1', '--kernel', '/k'), {
      machine: 'vm1', uuid: undefined, kernel: '/k', initrd: undefined, append: undefined, image: undefined,
      cpus: 1, ramMiB: 2048, accel: 'auto', console: undefined, register: true, vsock: 'auto', vsockCid: undefined,
      shutdownTimeoutMs: 30_000, quiet: false,
    })
  })

  test('everything given, in both --opt=value and --opt value forms', () => {
    assert.deepEqual(run('--machine=vm1', '--uuid', '0123456789AB4DEF8123456789ABCDEF', '--linux=/k', '--initrd', '/i', '--append=rdinit=/x quiet',
      '--image', '/d.qcow2', '--cpus=4', '--ram', '512M', '--accel=tcg', '--console=pipe', '--register=no', '--vsock=yes',
      '--vsock-cid=42', '--shutdown-timeout=2.5', '-q'), {
      machine: 'vm1', uuid: '01234567-89ab-4def-8123-456789abcdef', kernel: '/k', initrd: '/i', append: 'rdinit=/x quiet', image: '/d.qcow2',
      cpus: 4, ramMiB: 512, accel: 'tcg', console: 'pipe', register: false, vsock: 'yes', vsockCid: 42, shutdownTimeoutMs: 2500, quiet: true,
    })
  })

  test('--vsock is a boolean (absent: auto); --vsock=no takes no CID', () => {
    assert.equal(run('-M', 'x', '--kernel=/k', '--vsock=no').vsock, 'no')
    assert.equal(run('-M', 'x', '--kernel=/k', '--vsock=1').vsock, 'yes')
    assert.equal(run('-M', 'x', '--kernel=/k', '--vsock-cid=3').vsock, 'auto')
    fails(['-M', 'x', '--kernel=/k', '--vsock=perhaps'], /--vsock=perhaps: not a boolean/)
    fails(['-M', 'x', '--kernel=/k', '--vsock=no', '--vsock-cid=7'], /^Option --vsock-cid= cannot be used with --vsock=no$/)
  })

  test('the name comes from the image file when -M is not given (as vmspawn)', () => {
    assert.equal(run('--image=/var/lib/machines/web.raw').machine, 'web')
    assert.equal(run('--image=/srv/db.qcow2').machine, 'db')
    fails(['--image=/srv/under_score.raw'], /Failed to determine machine name automatically, please use -M/)
    fails(['--kernel=/k'], /No machine name: give -M NAME/)
  })

  test('help and version', () => {
    assert.deepEqual(parseCommandLine(['--help']), { kind: 'help' })
    assert.deepEqual(parseCommandLine(['-M', 'x', '-h']), { kind: 'help' })
    assert.deepEqual(parseCommandLine(['--version']), { kind: 'version' })
  })

  test('sizes: K/M/G/T, base 1024, rounded up to MiB', () => {
    assert.equal(parseRamMiB('2G'), 2048)
    assert.equal(parseRamMiB('1.5G'), 1536)
    assert.equal(parseRamMiB('17825793'), 18)
    assert.equal(parseRamMiB('256MiB'), 256)
    assert.equal(parseRamMiB('1T'), 1024 * 1024)
    assert.throws(() => parseRamMiB('1M'), /too small/)
    assert.throws(() => parseRamMiB('lots'), /not a size/)
  })

  test('bad input, one line each', () => {
    fails([], /Nothing to boot/)
    fails(['-M', 'x', '--initrd=/i', '--image=/d'], /Option --initrd= cannot be used without --kernel=/)
    fails(['-M', 'x', '--append=quiet', '--image=/d'], /Option --append= cannot be used without --kernel=/)
    fails(['-M', 'bad name', '--kernel=/k'], /Invalid machine name: bad name/)
    fails(['-M', 'x', '--kernel=/k', '--uuid=xyz'], /Invalid UUID: xyz/)
    fails(['-M', 'x', '--kernel=/k', '--uuid=00000000000000000000000000000000'], /Invalid UUID/)
    fails(['-M', 'x', '--kernel=/k', '--cpus=0'], /--cpus=0: expected an integer from 1 to 255/)
    fails(['-M', 'x', '--kernel=/k', '--cpus=two'], /--cpus=two/)
    fails(['-M', 'x', '--kernel=/k', '--accel=hvf'], /Invalid --accel=hvf: expected auto, kvm, tcg/)
    fails(['-M', 'x', '--kernel=/k', '--console=native'], /Invalid --console=native: expected interactive, read-only, pipe/)
    fails(['-M', 'x', '--kernel=/k', '--register=maybe'], /--register=maybe: not a boolean/)
    fails(['-M', 'x', '--kernel=/k', '--vsock-cid=2'], /--vsock-cid=2: expected an integer from 3 to 4294967294/)
    fails(['-M', 'x', '--kernel=/k', '--shutdown-timeout=0'], /--shutdown-timeout=0/)
    fails(['-M', 'x', '--kernel=/k', '--kernel-typo=1'], /^Unknown option '--kernel-typo'$/)
    fails(['-M', 'x', '--kernel=/k', 'quiet'], /Unexpected argument 'quiet' \(the kernel command line goes in --append=\)/)
    fails(['-M', 'x', '--kernel=/a', '--linux=/b'], /--kernel= and --linux= name different kernels/)
    fails(['-M', 'x', '--kernel='], /Empty path given/)
    fails(['-M'], /argument missing|requires|expected/i)
  })
})
