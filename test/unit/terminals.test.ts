// Opening terminals in machines: OpenMachineShell's arguments as systemd
// 252 reads and defaults them, the environment rule (strv_env_is_valid()),
// and the Manager's checks in systemd's order (arguments, then the caller,
// then the class) against fake ports; mctl's USER@NAME, --uid, -E and the
// `shell NAME CMD…` option rule.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { AccessDeniedError, InvalidArgsError, NoSuchMachineError, NoSuchProcessError, NotSupportedError } from '../../src/protocol/errors.ts'
import { Manager } from '../../src/core/manager.ts'
import { checkTerminal, openMachineLogin, openMachinePty, openMachineShell } from '../../src/core/machine-terminals.ts'
import { registerMachine } from '../../src/core/register.ts'
import { defaultShellArgs, environmentIsValid, shellSpecFromRequest } from '../../src/core/shell-request.ts'
import { createFakePorts } from '../fakes/ports.ts'
import { parseArguments, type CliOptions } from '../../src/cli/options.ts'
import { parseMachineUser } from '../../src/cli/verbs/shell.ts'

const ROOT = { uid: 0, pid: 999 }
const USER = { uid: 1000, pid: 5000 }

void describe('shellSpecFromRequest', () => {
  test('an empty user is root, an empty path the user\'s login shell through /bin/sh -c', () => {
    const spec = shellSpecFromRequest({ user: '', path: '', args: ['ignored'], environment: [] })
    assert.equal(spec.user, 'root')
    assert.equal(spec.path, '/bin/sh')
    assert.deepEqual(spec.args, defaultShellArgs('root'))
    assert.match(spec.args[2]!, /^shell=\$\(getent passwd root 2>\/dev\/null /)
    assert.match(spec.args[2]!, /exec "\$\{shell:-\/bin\/sh\}" -l$/)
  })

  test('a path alone is its own argv; given args are kept as they are', () => {
    assert.deepEqual(shellSpecFromRequest({ user: 'bob', path: '/bin/echo', args: [], environment: [] }).args, ['/bin/echo'])
    assert.deepEqual(shellSpecFromRequest({ user: 'bob', path: '/bin/echo', args: ['echo', 'hi'], environment: ['A=1'] }),
      { user: 'bob', path: '/bin/echo', args: ['echo', 'hi'], environment: ['A=1'] })
  })

  test('a relative path and a bad environment are refused with systemd\'s messages, the path first', () => {
    assert.throws(() => shellSpecFromRequest({ user: '', path: 'bin/sh', args: [], environment: ['='] }),
      new InvalidArgsError('Specified path \'bin/sh\' is not absolute'))
    assert.throws(() => shellSpecFromRequest({ user: '', path: '/bin/sh', args: [], environment: ['NOEQUALS'] }),
      new InvalidArgsError('Invalid environment assignments'))
  })
})

void describe('environmentIsValid', () => {
  test('assignments with shell variable names, each once', () => {
    assert.equal(environmentIsValid([]), true)
    assert.equal(environmentIsValid(['A=1', 'B_2=', '_x=tab\there', 'NL=a\nb']), true)
    for (const bad of [['=1'], ['1A=x'], ['A-B=x'], ['A'], ['A=1', 'A=2'], ['A=bell\x07']]) {
      assert.equal(environmentIsValid(bad), false, JSON.stringify(bad))
    }
  })
})

void describe('Manager: open a pty, a login, a shell', () => {
  async function world(): Promise<{ manager: Manager; ports: ReturnType<typeof createFakePorts> }> {
    const ports = createFakePorts()
    const manager = new Manager(ports)
    for (const [name, cls, pid] of [['c1', 'container', 4605], ['v1', 'vm', 4606]] as const) {
      ports.processes.spawn(pid)
      await registerMachine(manager, { name, id: new Uint8Array(0), service: 's', class: cls, leader: pid, rootDirectory: '', netifs: undefined, allocateUnit: true, scopeProperties: [] }, ROOT)
    }
    return { manager, ports }
  }

  test('a container: the terminal is opened in its leader\'s namespaces; the host: in ours', async () => {
    const { manager, ports } = await world()
    assert.deepEqual(await openMachinePty(manager, manager.get('c1'), ROOT), { master: 1000, path: '/dev/pts/0' })
    await openMachineLogin(manager, manager.get('.host'), ROOT)
    await openMachineShell(manager, manager.get('c1'), { user: 'u', path: '/bin/id', args: [], environment: ['X=1'] }, ROOT)
    assert.deepEqual(ports.terminals.opened, [
      { kind: 'pty', leader: 4605 },
      { kind: 'login', leader: undefined },
      { kind: 'shell', leader: 4605, spec: { user: 'u', path: '/bin/id', args: ['/bin/id'], environment: ['X=1'] } },
    ])
  })

  test('a machine whose leader died (its unit still holds processes) opens nothing: the PID may be another process\'s by now', async () => {
    const ports = createFakePorts()
    const manager = new Manager(ports)
    ports.processes.spawn(4605)
    ports.units.place(4605, 'probe.service')
    await registerMachine(manager, {
      name: 'orphan', id: new Uint8Array(0), service: 'svc', class: 'container', leader: 4605, rootDirectory: '',
      netifs: undefined, allocateUnit: false, scopeProperties: [],
    }, ROOT)
    ports.processes.spawn(4700)
    ports.units.place(4700, 'probe.service')
    ports.processes.exit(4605)
    ports.processes.spawn(4605, { startTime: 999n }) // reused
    for (const open of [() => openMachinePty(manager, manager.get('orphan'), ROOT), () => openMachineLogin(manager, manager.get('orphan'), ROOT),
      () => openMachineShell(manager, manager.get('orphan'), { user: '', path: '', args: [], environment: [] }, ROOT)]) {
      await assert.rejects(open(), new NoSuchProcessError('No such process'))
    }
    assert.deepEqual(ports.terminals.opened, [])
    assert.deepEqual(manager.list().map((m) => m.name).sort(), ['.host', 'orphan'])
  })

  test('unknown machine, then bad arguments, then the caller, then the class; nothing is opened', async () => {
    const { manager, ports } = await world()
    assert.throws(() => manager.get('nope'), new NoSuchMachineError('nope'))
    await assert.rejects(openMachineShell(manager, manager.get('v1'), { user: '', path: 'x', args: [], environment: [] }, USER), new InvalidArgsError('Specified path \'x\' is not absolute'))
    await assert.rejects(openMachineShell(manager, manager.get('v1'), { user: '', path: '', args: [], environment: [] }, USER), new AccessDeniedError('Permission denied'))
    await assert.rejects(openMachineLogin(manager, manager.get('.host'), USER), new AccessDeniedError('Permission denied'))
    await assert.rejects(openMachineShell(manager, manager.get('v1'), { user: '', path: '', args: [], environment: [] }, ROOT), new NotSupportedError('Operation not supported'))
    await assert.rejects(openMachinePty(manager, manager.get('v1'), ROOT), new NotSupportedError('Operation not supported'))
    assert.throws(() => checkTerminal(manager, manager.get('v1'), 'login', ROOT), new NotSupportedError('Operation not supported'))
    assert.deepEqual(ports.terminals.opened, [])
  })
})

void describe('mctl shell and login arguments', () => {
  const actions = { help: () => '', version: () => '', signalTable: () => '', signalNames: () => '' }
  const run = (argv: string[], env: NodeJS.ProcessEnv = {}): { words: readonly string[]; options: CliOptions } => {
    const r = parseArguments(argv, 'mctl', actions, env)
    assert.equal(r.kind, 'run')
    return r
  }

  test('parse_machine_uid(): USER@NAME wins over --uid; no NAME is the host; "@NAME" is refused', () => {
    assert.deepEqual(parseMachineUser('bob@deb', 'alice'), { machine: 'deb', user: 'bob' })
    assert.deepEqual(parseMachineUser('deb', 'alice'), { machine: 'deb', user: 'alice' })
    assert.deepEqual(parseMachineUser('deb', undefined), { machine: 'deb', user: undefined })
    assert.deepEqual(parseMachineUser(undefined, undefined), { machine: '.host', user: undefined })
    assert.deepEqual(parseMachineUser('bob@', undefined), { machine: '.host', user: 'bob' })
    assert.equal(parseMachineUser('@deb', undefined), undefined)
  })

  test('after `shell NAME`, options belong to the command; before, they are ours', () => {
    const r = run(['-q', 'shell', '--uid=bob', 'deb', '/bin/ls', '-l', '--uid=x', '-q'])
    assert.deepEqual(r.words, ['shell', 'deb', '/bin/ls', '-l', '--uid=x', '-q'])
    assert.equal(r.options.uid, 'bob')
    assert.equal(r.options.quiet, true)
    // Other verbs take options anywhere.
    assert.deepEqual(run(['login', 'deb', '-q']).words, ['login', 'deb'])
  })

  test('-E VAR=VALUE replaces an earlier VAR; -E VAR passes ours through; a bad name is refused', () => {
    assert.deepEqual(run(['-E', 'A=1', '-E', 'B=2', '--setenv=A=3', '-E', 'HOME'], { HOME: '/root' }).options.setenv, ['B=2', 'A=3', 'HOME=/root'])
    assert.deepEqual(run(['-E', 'UNSET']).options.setenv, ['UNSET='])
    assert.deepEqual(parseArguments(['-E', '1X=2'], 'mctl', actions, {}),
      { kind: 'exit', code: 1, stdout: '', stderr: 'Cannot assign environment variable 1X=2: Invalid argument\n' })
  })
})
