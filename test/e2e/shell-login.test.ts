// Into the machine (issue 6, part A): real `machinectl shell` and
// `machinectl login`, and mctl's, against a Debian guest booted by
// machined-spawn (its systemd starts the getty and the shell unit on a pty
// allocated inside it) and a busybox guest without systemd (machined-ts
// starts the session itself in the guest's namespaces). Bad input gets
// systemd's errors and leaves no process behind.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { REPO, Sandbox, eventually, type ExecResult } from '../helpers/sandbox.ts'
import { debianTree, OverlayTree } from '../helpers/debian-tree.ts'
import { busyboxTree, BUSYBOX_USER, type BusyboxTree } from '../helpers/busybox-tree.ts'
import { machineLeader, SpawnRun, stopGuest, waitBooted } from '../helpers/spawn.ts'
import { callManager } from '../helpers/busctl.ts'
import { mctlForAnyUser } from '../helpers/staged.ts'

const MCTL = ['node', `${REPO}/bin/mctl.js`]

/**
 * Runs `command` on a terminal (script(1) gives it a pty) with our stdin
 * kept open, until its output matches `until`; then, if given, runs
 * `then.action` (which may type on the terminal) and waits for
 * `then.until` after that; then hangs the terminal up. Resolves to everything it printed.
 */
function onTerminal(sb: Sandbox, command: string, until: RegExp, then?: { action: (type: (keys: string) => void) => Promise<unknown>; until: RegExp }, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(sb.nsenter[0]!, [...sb.nsenter.slice(1), 'script', '-qfc', command, '/dev/null'], { env: sb.env, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let mark: number | undefined
    const finish = (err?: Error): void => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      if (err === undefined) resolve(out)
      else reject(err)
    }
    const timer = setTimeout(() => finish(new Error(`no ${String(mark === undefined ? until : then?.until)} from \`${command}\` within ${timeoutMs} ms; it printed: ${JSON.stringify(out)}`)), timeoutMs)
    const onData = (c: Buffer): void => {
      out += c.toString()
      if (mark === undefined && until.test(out)) {
        if (then === undefined) { finish(); return }
        mark = out.length
        then.action((keys) => child.stdin.write(keys)).catch((err: unknown) => finish(err as Error))
      } else if (mark !== undefined && then !== undefined && then.until.test(out.slice(mark))) finish()
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
  })
}

/**
 * io.systemd.Machine.Open from a client that is not ours (Python's
 * socket.recv_fds()): the reply, and what the pty's master it passed
 * read until the session hung up.
 */
const VARLINK_OPEN = `
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect('/run/systemd/machine/io.systemd.Machine')
s.sendall(json.dumps({'method': 'io.systemd.Machine.Open', 'parameters': json.loads(sys.argv[1])}).encode() + b'\\0')
data, fds, _flags, _addr = socket.recv_fds(s, 65536, 4)
out = b''
if fds:
    while True:
        try:
            chunk = os.read(fds[0], 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
print(json.dumps({'reply': json.loads(data.rstrip(b'\\0')), 'fds': len(fds), 'output': out.decode()}))
`

async function varlinkOpen(sb: Sandbox, parameters: Record<string, unknown>): Promise<{ reply: { parameters?: Record<string, unknown>; error?: string }; fds: number; output: string }> {
  const r = await sb.exec(['python3', '-c', VARLINK_OPEN, JSON.stringify(parameters)])
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as { reply: { parameters?: Record<string, unknown>; error?: string }; fds: number; output: string }
}

/** The PIDs in the machine's scope and its init.scope, in the hierarchy the sandbox tracks processes in. */
function scopePids(sb: Sandbox, name: string): string[] {
  const scope = sb.scopeDirs(name)[0]!
  const read = (dir: string): string[] => {
    try { return readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter((l) => l !== '') } catch { return [] }
  }
  return [...read(scope), ...read(`${scope}/init.scope`)].sort()
}

function assertSession(r: ExecResult, name: string, stdout: string): void {
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, stdout)
  assert.equal(r.stderr, `Connected to machine ${name}. Press ^] three times within 1s to exit session.\nConnection to machine ${name} terminated.\n`)
}

void describe('shell and login into a Debian guest (systemd inside)', { timeout: 300_000 }, () => {
  let sb: Sandbox
  let tree: OverlayTree
  let run: SpawnRun
  let name: string

  before(async () => {
    const cached = await debianTree()
    sb = await Sandbox.start()
    tree = await OverlayTree.create(sb, cached)
    name = sb.name('sh-deb')
    run = SpawnRun.start(sb, ['-D', tree.path, '-M', name, '-b'])
    const leader = await machineLeader(sb, name)
    assert.equal(await waitBooted(sb, leader), 'running')
  })

  after(async () => {
    await stopGuest(run)
    tree?.remove()
    await sb?.stop()
  })

  it('machinectl shell NAME /bin/echo hello prints hello and exits 0', async () => {
    assertSession(await sb.exec(['machinectl', 'shell', name, '/bin/echo', 'hello']), name, 'hello\r\n')
  })

  it('runs the command as the guest\'s systemd does: a container-shell@ unit on /dev/pts/N, as the user, with the environment', async () => {
    const r = await sb.exec(['machinectl', 'shell', '-E', 'GREETING=hi there', `nobody@${name}`, '/bin/sh', '-c', 'id -un; tty; echo "$GREETING"; cat /proc/self/cgroup'])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.split('\r\n')
    assert.equal(lines[0], 'nobody')
    assert.match(lines[1]!, /^\/dev\/pts\/\d+$/)
    assert.equal(lines[2], 'hi there')
    assert.match(r.stdout, /container-shell@\d+\.service/)
  })

  it('machinectl login NAME shows the guest\'s login prompt', async () => {
    const out = await onTerminal(sb, `machinectl login ${name}`, new RegExp(`${name} login: `))
    assert.match(out, new RegExp(`Connected to machine ${name}\\. Press \\^\\] three times within 1s to exit session\\.`))
    assert.match(out, /Debian GNU\/Linux 12/)
  })

  it('mctl shell and mctl login do the same', async () => {
    assertSession(await sb.exec([...MCTL, 'shell', name, '/bin/echo', 'hello']), name, 'hello\r\n')
    const r = await sb.exec([...MCTL, 'shell', '--uid=nobody', name, '/bin/sh', '-c', 'id -un; echo $0 "$@"', 'zero', '-q', 'x'])
    assertSession(r, name, 'nobody\r\nzero -q x\r\n')
    const out = await onTerminal(sb, `${MCTL.join(' ')} login ${name}`, new RegExp(`${name} login: `))
    assert.match(out, new RegExp(`Connected to machine ${name}\\.`))
  })

  it('Varlink Open passes the pty\'s master as an fd, as newer systemd does', async () => {
    const r = await varlinkOpen(sb, { name, mode: 'shell', path: '/bin/echo', args: ['echo', 'over', 'varlink'] })
    assert.equal(r.fds, 1)
    assert.equal(r.reply.parameters?.ptyFileDescriptor, 0)
    assert.match(String(r.reply.parameters?.ptyPath), /^\/dev\/pts\/\d+$/)
    assert.equal(r.output, 'over varlink\r\n')
  })

  it('an unknown user: the guest\'s systemd refuses to run it, the session ends at once, as with systemd-machined', async () => {
    const r = await sb.exec(['machinectl', 'shell', `nosuchuser@${name}`, '/bin/echo', 'hello'])
    assert.equal(r.code, 0, r.stderr)
    assert.doesNotMatch(r.stdout, /hello/)
  })

  it('a login session ends when its machine goes: "Machine NAME terminated." (MachineRemoved)', async () => {
    const poweroff = async (): Promise<void> => {
      const r = await sb.exec(['machinectl', 'poweroff', name])
      assert.equal(r.code, 0, r.stderr)
    }
    const out = await onTerminal(sb, `machinectl login ${name}`, new RegExp(`${name} login: `), { action: poweroff, until: new RegExp(`Machine ${name} terminated\\.`) }, 30_000)
    assert.match(out, new RegExp(`Machine ${name} terminated\\.`))
    assert.deepEqual(await run.exited, { code: 0, signal: null })
  })
})

void describe('shell and login into a busybox guest (no systemd, no bus)', { timeout: 120_000 }, () => {
  let sb: Sandbox
  let tree: BusyboxTree
  let run: SpawnRun
  let name: string

  before(async () => {
    tree = busyboxTree()
    sb = await Sandbox.start()
    name = sb.name('sh-bb')
    run = SpawnRun.start(sb, ['-D', tree.path, '-M', name, '-b'])
    await machineLeader(sb, name)
  })

  after(async () => {
    await stopGuest(run)
    tree?.remove()
    await sb?.stop()
  })

  it('machinectl shell NAME /bin/echo hello prints hello and exits 0', async () => {
    assertSession(await sb.exec(['machinectl', 'shell', name, '/bin/echo', 'hello']), name, 'hello\r\n')
  })

  it('runs as the user of the guest\'s /etc/passwd, in the guest\'s namespaces and cgroup, on its pty, with the environment', async () => {
    const u = BUSYBOX_USER
    const r = await sb.exec(['machinectl', 'shell', '-E', 'GREETING=hi', `${u.name}@${name}`, '/bin/sh', '-c', 'id; pwd; tty; echo $GREETING $HOME; hostname; cat /proc/1/cmdline | tr "\\0" " "'])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.split('\r\n')
    assert.equal(lines[0], `uid=${u.uid}(${u.name}) gid=${u.gid}(${u.name}) groups=100(users),${u.gid}(${u.name})`)
    assert.equal(lines[1], u.home)
    assert.match(lines[2]!, /^\/dev\/pts\/\d+$/)
    assert.equal(lines[3], `hi ${u.home}`)
    assert.equal(lines[4], name)
    assert.equal(lines[5]?.trim(), '/bin/sh /sbin/init')
  })

  it('machinectl shell without a command starts the user\'s login shell', async () => {
    const out = await onTerminal(sb, `machinectl shell ${name}`, /~ # /)
    assert.match(out, /built-in shell \(ash\)/)
    assert.match(out, new RegExp(`Connected to machine ${name}\\.`))
  })

  it('machinectl login NAME shows a login prompt (the guest\'s login(1))', async () => {
    const out = await onTerminal(sb, `machinectl login ${name}`, new RegExp(`${name} login: `))
    assert.match(out, new RegExp(`Connected to machine ${name}\\.`))
  })

  it('Varlink Open passes the pty\'s master as an fd; its errors are Varlink\'s', async () => {
    const r = await varlinkOpen(sb, { name, mode: 'shell', user: BUSYBOX_USER.name, path: '/bin/id', args: ['id', '-u'] })
    assert.deepEqual([r.fds, r.reply.parameters?.ptyFileDescriptor, r.output], [1, 0, `${BUSYBOX_USER.uid}\r\n`])
    const unknown = await varlinkOpen(sb, { name, mode: 'shell', user: 'nosuchuser', path: '/bin/id' })
    assert.deepEqual([unknown.fds, unknown.reply.error], [0, 'io.systemd.Machine.NoSuchUser'])
  })

  it('mctl forwards the terminal both ways in raw mode, and Ctrl-] three times leaves', async () => {
    const typed = await onTerminal(sb, `${MCTL.join(' ')} shell ${name}`, /~ # /, {
      action: async (type) => { type('echo typed-$((6*7))\r') }, until: /typed-42/,
    })
    assert.match(typed, /echo typed-\$\(\(6\*7\)\)/) // echoed by the guest's terminal, not ours (raw mode)
    const escaped = await onTerminal(sb, `${MCTL.join(' ')} shell ${name}`, /~ # /, {
      action: async (type) => { type('\x1d\x1d\x1d') }, until: new RegExp(`Connection to machine ${name} terminated\\.`),
    })
    assert.match(escaped, /Press \^\] three times within 1s to exit session\./)
  })

  it('mctl shell does the same', async () => {
    assertSession(await sb.exec([...MCTL, 'shell', name, '/bin/echo', 'hello']), name, 'hello\r\n')
    const r = await sb.exec([...MCTL, 'shell', `--uid=${BUSYBOX_USER.name}`, name, '/bin/id', '-u'])
    assertSession(r, name, `${BUSYBOX_USER.uid}\r\n`)
  })

  it('an unknown user, a relative path, bad environment: systemd\'s errors, and nothing started', async () => {
    const pids = scopePids(sb, name)
    let r = await sb.exec(['machinectl', 'shell', `nosuchuser@${name}`, '/bin/echo', 'hello'])
    assert.deepEqual([r.code, r.stdout, r.stderr], [1, '', 'Failed to get shell PTY: Failed to determine user credentials: No such process\n'])
    r = await sb.exec([...MCTL, 'shell', `nosuchuser@${name}`, '/bin/echo', 'hello'])
    assert.deepEqual([r.code, r.stdout, r.stderr], [1, '', 'Failed to get shell PTY: Failed to determine user credentials: No such process\n'])
    r = await sb.exec(['machinectl', 'shell', name, 'bin/echo', 'hello'])
    assert.deepEqual([r.code, r.stderr], [1, 'Failed to get shell PTY: Specified path \'bin/echo\' is not absolute\n'])
    const bad = await callManager(sb, 'OpenMachineShell', 'sssasas', name, '', '/bin/true', 0, 2, 'A=1', 'A=2')
    assert.deepEqual([bad.errorName, bad.errorMessage], ['org.freedesktop.DBus.Error.InvalidArgs', 'Invalid environment assignments'])
    assert.deepEqual(scopePids(sb, name), pids)
  })

  it('sessions end when their machine goes (machinectl terminate): a shell at once, an mctl login with "Machine NAME terminated."', async () => {
    const idle = scopePids(sb, name).length
    const session = sb.exec(['machinectl', 'shell', name, '/bin/sleep', '1000'])
    await eventually(() => scopePids(sb, name).length > idle, 5000, 'the session to start')
    const terminate = async (): Promise<void> => {
      const t = await sb.exec(['machinectl', 'terminate', name])
      assert.equal(t.code, 0, t.stderr)
    }
    const out = await onTerminal(sb, `${MCTL.join(' ')} login ${name}`, new RegExp(`${name} login: `), { action: terminate, until: new RegExp(`Machine ${name} terminated\\.`) })
    assert.match(out, new RegExp(`Connected to machine ${name}\\.`))
    const r = await session
    assert.equal(r.code, 0)
    assert.match(r.stderr, new RegExp(`Connection to machine ${name} terminated\\.\\n$`))
    await run.exited
  })
})

void describe('shell on the host, and errors that need no guest', { timeout: 60_000 }, () => {
  let sb: Sandbox

  before(async () => { sb = await Sandbox.start() })
  after(async () => { await sb?.stop() })

  it('shell .host (or no name) runs on the host; without systemd as PID 1 we start it ourselves', async () => {
    const host = 'Connected to the local host. Press ^] three times within 1s to exit session.\nConnection to the local host terminated.\n'
    for (const argv of [['machinectl', 'shell', '.host', '/bin/echo', 'hello'], [...MCTL, 'shell', '', '/bin/echo', 'hello'], [...MCTL, 'shell', 'root@', '/usr/bin/id', '-u']]) {
      const r = await sb.exec(argv)
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, argv.includes('hello') ? 'hello\r\n' : '0\r\n', host], argv.join(' '))
    }
  })

  it('another user may not: "Access denied"', async () => {
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
    for (const [argv, what] of [[['machinectl', 'shell', '.host', '/bin/true'], 'shell'], [['machinectl', 'login', '.host'], 'login'], [[...mctlForAnyUser(), 'shell', '.host', '/bin/true'], 'shell']] as const) {
      const r = await sb.exec([...nobody, ...argv])
      assert.deepEqual([r.code, r.stderr], [1, `Failed to get ${what} PTY: Access denied\n`], argv.join(' '))
    }
  })

  it('an unknown machine: "No machine \'x\' known"', async () => {
    for (const tool of [['machinectl'], MCTL]) {
      let r = await sb.exec([...tool, 'shell', 'sh-nope', '/bin/true'])
      assert.deepEqual([r.code, r.stderr], [1, 'Failed to get shell PTY: No machine \'sh-nope\' known\n'])
      r = await sb.exec([...tool, 'login', 'sh-nope'])
      assert.deepEqual([r.code, r.stderr], [1, 'Failed to get login PTY: No machine \'sh-nope\' known\n'])
    }
  })

  it('a VM: systemd\'s "Operation not supported"', async () => {
    const leader = await sb.spawnLeader()
    const name = sb.name('sh-vm')
    assert.equal((await callManager(sb, 'RegisterMachine', 'sayssus', name, '0', 'svc', 'vm', leader.pid!, '')).ok, true)
    for (const tool of [['machinectl'], MCTL]) {
      let r = await sb.exec([...tool, 'shell', name, '/bin/true'])
      assert.deepEqual([r.code, r.stderr], [1, 'Failed to get shell PTY: Operation not supported\n'])
      r = await sb.exec([...tool, 'login', name])
      assert.deepEqual([r.code, r.stderr], [1, 'Failed to get login PTY: Operation not supported\n'])
    }
    const pty = await callManager(sb, 'OpenMachinePTY', 's', name)
    assert.deepEqual([pty.errorName, pty.errorMessage], ['org.freedesktop.DBus.Error.NotSupported', 'Operation not supported'])
    // list and status are unaffected.
    assert.equal((await sb.exec(['machinectl', 'status', name])).code, 0)
  })

  it('mctl login refuses --uid and -E, as machinectl does', async () => {
    for (const tool of [['machinectl'], MCTL]) {
      const r = await sb.exec([...tool, 'login', '--uid=root', 'sh-any'])
      assert.deepEqual([r.code, r.stderr], [1, '--setenv= and --uid= are not supported for \'login\'. Use \'shell\' instead.\n'])
    }
  })
})
