// machined-spawn's command line: nspawn's option names and rules, parsing
// stopping at the first non-option, names derived from the directory as
// nspawn's hostname_cleanup() does, and one-line errors for bad input.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { cleanupHostname, parseBind, parseBoolean, parseCommandLine, parseSetenv, resolveConsoleMode, UsageError, type SpawnOptions } from '../../src/spawn/options.ts'
import { vethName } from '../../src/spawn/veth.ts'

function run(argv: string[], env: Record<string, string> = {}, random?: () => string): SpawnOptions {
  const r = parseCommandLine(argv, env, random)
  assert.equal(r.kind, 'run')
  return (r as { options: SpawnOptions }).options
}

function usage(argv: string[]): string {
  try {
    parseCommandLine(argv)
  } catch (err) {
    assert.ok(err instanceof UsageError, String(err))
    assert.doesNotMatch(err.message, /\n/, 'one line')
    return err.message
  }
  assert.fail(`accepted: ${argv.join(' ')}`)
}

void describe('parseCommandLine', () => {
  test('defaults: name from the directory, register, no boot', () => {
    const o = run(['-D', '/var/lib/machines/web'])
    assert.equal(o.directory, '/var/lib/machines/web')
    assert.equal(o.machine, 'web')
    assert.equal(o.boot, false)
    assert.equal(o.register, true)
    assert.equal(o.keepUnit, false)
    assert.equal(o.console, undefined)
    assert.deepEqual(o.args, [])
  })

  test('every option, long and short forms', () => {
    const o = run(['--directory=/srv/t', '-M', 'box', '-b', '--uuid=0123456789ABCDEF0123456789abcdef', '--hostname', 'h.example',
      '--bind=/a', '--bind-ro=/b:/c:norbind', '--setenv=A=1', '--console=passive', '--register=no', '--keep-unit', '--private-network', '-q', 'systemd.unit=rescue.target'])
    assert.equal(o.machine, 'box')
    assert.equal(o.boot, true)
    assert.equal(o.uuid, '0123456789abcdef0123456789abcdef')
    assert.equal(o.hostname, 'h.example')
    assert.deepEqual(o.binds, [{ source: '/a', destination: '/a', readOnly: false, recursive: true }, { source: '/b', destination: '/c', readOnly: true, recursive: false }])
    assert.deepEqual(o.setenv, ['A=1'])
    assert.equal(o.console, 'passive')
    assert.equal(o.register, false)
    assert.equal(o.keepUnit, true)
    assert.equal(o.privateNetwork, true)
    assert.equal(o.quiet, true)
    assert.deepEqual(o.args, ['systemd.unit=rescue.target'])
  })

  test('--network-veth (-n) implies --private-network, as in nspawn; interface names fit IFNAMSIZ', () => {
    for (const flag of ['--network-veth', '-n']) {
      const o = run(['-D', '/srv/x', flag])
      assert.deepEqual([o.networkVeth, o.privateNetwork], [true, true], flag)
    }
    assert.deepEqual([run(['-D', '/srv/x', '--private-network']).networkVeth], [false])
    assert.equal(vethName('web'), 've-web')
    assert.equal(vethName('a-quite-long-machine-name').length, 15)
    assert.notEqual(vethName('a-quite-long-machine-name'), vethName('a-quite-long-machine-nam2'))
    assert.ok(vethName('a-quite-long-machine-name').startsWith('ve-a-quite-'))
  })

  test('clustered short options and attached values', () => {
    const o = run(['-bqD/srv/x', '-Mname'])
    assert.equal(o.boot, true)
    assert.equal(o.quiet, true)
    assert.equal(o.directory, '/srv/x')
    assert.equal(o.machine, 'name')
  })

  test('options stop at the first word of the command, as nspawn does', () => {
    const o = run(['-D', '/t', 'ls', '-l', '--boot'])
    assert.equal(o.boot, false)
    assert.deepEqual(o.args, ['ls', '-l', '--boot'])
    assert.deepEqual(run(['-D', '/t', '--', '-weird']).args, ['-weird'])
  })

  test('-P is --console=pipe; --help and --version', () => {
    assert.equal(run(['-D', '/t', '-P']).console, 'pipe')
    assert.deepEqual(parseCommandLine(['-D', '/t', '--help']), { kind: 'help' })
    assert.deepEqual(parseCommandLine(['--version']), { kind: 'version' })
  })

  test('--setenv=NAME passes our own value on, or nothing', () => {
    assert.deepEqual(run(['-D', '/t', '--setenv=FOO', '--setenv=BAR'], { FOO: 'x y' }).setenv, ['FOO=x y'])
  })

  test('bad input is refused with one line', () => {
    assert.match(usage([]), /-D\/--directory=PATH, -i\/--image=PATH, or -M\/--machine=NAME/)
    assert.match(usage(['-D', '/t', '-M', 'bad_name']), /Invalid machine name: bad_name/)
    assert.match(usage(['-D', '/t', '-M', '-x']), /Invalid machine name/)
    assert.match(usage(['-D', '/t', '--uuid=0']), /Invalid UUID/)
    assert.match(usage(['-D', '/t', '--uuid=00000000-0000-0000-0000-000000000000']), /Invalid UUID/)
    assert.match(usage(['-D', '/t', '--console=tty']), /Unknown console mode/)
    assert.match(usage(['-D', '/t', '--register=maybe']), /--register=/)
    assert.match(usage(['-D', '/t', '--bind=relative']), /Invalid --bind=/)
    assert.match(usage(['-D', '/t', '--bind=/a:/b:ro']), /Invalid bind mount option 'ro'/)
    assert.match(usage(['-D', '/t', '--setenv=1X=2']), /Invalid environment variable/)
    assert.match(usage(['-D', '/t', '--frobnicate']), /Unknown option '--frobnicate'/)
    assert.match(usage(['-D', '/t', '-X']), /Unknown option '-X'/)
    assert.match(usage(['-D']), /needs an argument/)
    assert.match(usage(['-D', '/t', '--boot=yes']), /takes no argument/)
    assert.match(usage(['-D', '/___']), /machine name automatically/)
  })
})

void describe('parseCommandLine: containers from the pool', () => {
  test('-M alone is the pool image of that name; -D and -i name the root themselves', () => {
    const o = run(['-M', 'web', '-b'])
    assert.deepEqual([o.directory, o.image, o.machine], [undefined, undefined, 'web'])
    const i = run(['-i', '/srv/disk.raw'])
    assert.deepEqual([i.image, i.machine], ['/srv/disk.raw', 'disk'])
    assert.equal(run(['--image=/srv/x/os.raw', '-M', 'other']).machine, 'other')
  })

  test('-x/--ephemeral, --read-only; an ephemeral machine named from its tree gets a random suffix, as nspawn', () => {
    const o = run(['-D', '/var/lib/machines/web', '-x', '--read-only'], {}, () => '0123456789abcdef')
    assert.deepEqual([o.ephemeral, o.readOnly, o.machine], [true, true, 'web-0123456789abcdef'])
    assert.equal(run(['--ephemeral', '-M', 'named'], {}, () => 'ffff').machine, 'named')
    assert.equal(run(['-x', '-D', `/m/${'a'.repeat(63)}`], {}, () => '0123456789abcdef').machine.length, 64)
  })

  test('--template= with -M alone makes the machine in /var/lib/machines, as nspawn', () => {
    const o = run(['-M', 'fresh', '--template=/var/lib/machines/base'])
    assert.deepEqual([o.directory, o.template], ['/var/lib/machines/fresh', '/var/lib/machines/base'])
    assert.equal(run(['-D', '/srv/new', '--template=/t']).directory, '/srv/new')
  })

  test('combinations nspawn refuses', () => {
    assert.match(usage(['-D', '/t', '-i', '/x.raw']), /--directory= and --image= may not be combined\./)
    assert.match(usage(['-i', '/x.raw', '--template=/t']), /--template= and --image= may not be combined\./)
    assert.match(usage(['-M', 'a', '-x', '--template=/t']), /--ephemeral and --template= may not be combined\./)
    assert.match(usage(['-i', '']), /Invalid --image=: empty path\./)
  })
})

void describe('helpers', () => {
  test('cleanupHostname keeps what a hostname may hold', () => {
    assert.equal(cleanupHostname('my_box'), 'mybox')
    assert.equal(cleanupHostname('.a..b.'), 'a.b')
    assert.equal(cleanupHostname('-x-'), 'x')
    assert.equal(cleanupHostname('Überbox 1'), 'berbox1')
    assert.equal(cleanupHostname('a'.repeat(70)).length, 64)
  })

  test('parseBoolean takes systemd\'s words', () => {
    for (const s of ['yes', 'y', 'true', '1', 'on', 'YES']) assert.equal(parseBoolean(s), true)
    for (const s of ['no', 'n', 'false', '0', 'off']) assert.equal(parseBoolean(s), false)
    assert.equal(parseBoolean('perhaps'), undefined)
  })

  test('parseBind and parseSetenv', () => {
    assert.deepEqual(parseBind('/x:/y:rbind', false), { source: '/x', destination: '/y', readOnly: false, recursive: true })
    assert.throws(() => parseBind('/x:y', false), UsageError)
    assert.equal(parseSetenv('A=b=c', {}), 'A=b=c')
    assert.equal(parseSetenv('UNSET', {}), undefined)
  })

  test('the console mode follows the terminal; a boot off a terminal is read-only, not pipe', () => {
    assert.equal(resolveConsoleMode(undefined, true, true), 'interactive')
    assert.equal(resolveConsoleMode(undefined, false, true), 'interactive')
    assert.equal(resolveConsoleMode(undefined, false, false), 'pipe')
    assert.equal(resolveConsoleMode(undefined, true, false), 'read-only')
    assert.equal(resolveConsoleMode('passive', true, true), 'passive')
  })
})
