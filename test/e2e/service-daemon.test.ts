// The daemon as a service, on this host (no systemd as PID 1), each part in
// a sandbox of its own: READY=1 on a notify socket of the test's own only
// once both transports answer, WATCHDOG=1 and STOPPING=1; the refusal that
// names the owner when real systemd-machined has org.freedesktop.machine1;
// D-Bus activation through the Exec= file `machined install-service`
// installs on a host without systemd; install-service refusing non-root.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { eventually, REPO, Sandbox } from '../helpers/sandbox.ts'
import { asUser, busctl, callManager } from '../helpers/busctl.ts'
import { SOCKET } from '../helpers/varlink-py.ts'
import { machinedForAnyUser } from '../helpers/staged.ts'

const RECEIVER = join(REPO, 'test/helpers/notify-receiver.py')
const VARLINK_CLIENT = join(REPO, 'test/helpers/varlink-client.py')
const MACHINED = [process.execPath, join(REPO, 'bin/machined.js')]
const GET_INFO = JSON.stringify({ op: 'calls', calls: [{ method: 'org.varlink.service.GetInfo' }] })

/** A process started in the sandbox, its output collected line by line. */
function start(sb: Sandbox, argv: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; out: () => string; lines: () => string[] } {
  const child = spawn(sb.nsenter[0]!, [...sb.nsenter.slice(1), ...argv], { env: { ...sb.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr?.on('data', (c: Buffer) => { out += c.toString() })
  return { child, out: () => out, lines: () => out.split('\n').filter((l) => l.startsWith('{')) }
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)))
}

const sandboxes: Sandbox[] = []
after(async () => {
  for (const sb of sandboxes) await sb.stop()
})

void describe('machined under a service manager', { timeout: 300_000 }, () => {
  it('sends READY=1 only once D-Bus and Varlink answer, WATCHDOG=1 while it runs, STOPPING=1 on SIGTERM', async () => {
    const sb = await Sandbox.start({ daemon: false })
    sandboxes.push(sb)
    // The check runs the moment READY=1 arrives: the name must have its owner and Varlink must answer GetInfo.
    const check = `busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetNameOwner s org.freedesktop.machine1 && echo '${GET_INFO}' | python3 ${VARLINK_CLIENT} ${SOCKET}`
    const receiver = start(sb, ['python3', RECEIVER, '/run/test-notify', '60', '--', 'sh', '-c', check])
    await eventually(() => receiver.out().includes('bound'), 10_000, 'the notify socket')
    const daemon = start(sb, MACHINED, { NOTIFY_SOCKET: '/run/test-notify', WATCHDOG_USEC: '200000' })
    const messages = (): { fields?: Record<string, string>; pid?: number; ready_check?: number; output?: string }[] => receiver.lines().map((l) => JSON.parse(l) as never)
    await eventually(() => messages().some((m) => m.ready_check !== undefined), 20_000, 'READY=1 and its check')
    const all = messages()
    const readyAt = all.findIndex((m) => m.fields?.READY === '1')
    assert.equal(readyAt, 0, `READY=1 is the first message: ${JSON.stringify(all)}`)
    assert.match(all[0]!.fields!.STATUS!, /^Serving 0 machines on D-Bus and Varlink$/)
    const check1 = all[1]!
    assert.equal(check1.ready_check, 0, `at READY=1 a transport did not answer:\n${check1.output}`)
    assert.match(check1.output!, /"product": "machined-ts"/)
    await eventually(() => messages().filter((m) => m.fields?.WATCHDOG === '1').length >= 2, 10_000, 'WATCHDOG=1 twice')
    // Every message comes from the daemon itself (NotifyAccess=main), none from a child.
    const daemonPid = messages()[0]!.pid
    assert.ok(messages().every((m) => m.pid === undefined || m.pid === daemonPid))
    process.kill(daemonPid!, 'SIGTERM')
    assert.equal(await exited(daemon.child), 0, daemon.out())
    await eventually(() => messages().some((m) => m.fields?.STOPPING === '1'), 10_000, 'STOPPING=1')
    receiver.child.kill()
  })

  it('refuses to start when systemd-machined owns org.freedesktop.machine1, naming it', async () => {
    const sb = await Sandbox.start({ daemon: false })
    sandboxes.push(sb)
    // Real systemd-machined 252 takes the name on a bus without systemd as PID 1.
    const real = start(sb, ['/lib/systemd/systemd-machined'])
    try {
      const owner = await eventually(async () => {
        const r = await busctl(sb, ['call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetConnectionUnixProcessID', 's', 'org.freedesktop.machine1'])
        return r.ok ? Number(r.reply.split(' ')[1]) : undefined
      }, 10_000, 'systemd-machined to own the name')
      const ours = start(sb, MACHINED)
      assert.equal(await exited(ours.child), 1)
      assert.match(ours.out(), new RegExp(`org\\.freedesktop\\.machine1 is already owned by :1\\.\\d+, PID ${owner}, /lib/systemd/systemd-machined; stop and mask systemd-machined\\.service first`))
      // It left systemd-machined alone: still the owner, still answering.
      assert.equal((await callManager(sb, 'ListMachines')).ok, true)
    } finally {
      real.child.kill('SIGTERM')
      await exited(real.child)
    }
  })

  it('is started by the bus on the first call, through the Exec= activation file install-service installs', async () => {
    // A host without systemd as PID 1 nor systemd-container's bus policy, whose /usr/local is
    // ours to write (all only inside the sandbox's mount namespace).
    const sb = await Sandbox.start({ daemon: false, hidePolicies: true })
    sandboxes.push(sb)
    const setup = sb.execSync(['sh', '-c', 'rmdir /run/systemd/system && mount -t tmpfs tmpfs /usr/local/share'])
    assert.equal(setup.code, 0, setup.stderr)
    const install = await sb.exec(MACHINED.concat('install-service'))
    assert.equal(install.code, 0, install.stderr)
    assert.match(install.stdout, /^Init system: other \(detected\)$/m)
    assert.match(install.stdout, /^Installed \/usr\/local\/share\/dbus-1\/system-services\/org\.freedesktop\.machine1\.service$/m)
    assert.match(install.stdout, /^Installed \/etc\/dbus-1\/system\.d\/org\.freedesktop\.machine1\.conf$/m)
    assert.match(install.stdout, /^Asked the system bus to reload its configuration$/m)
    const again = await sb.exec(MACHINED.concat('install-service'))
    assert.match(again.stdout, /^Unchanged \/usr\/local\/share\/dbus-1\/system-services\/org\.freedesktop\.machine1\.service$/m)
    assert.doesNotMatch(again.stdout, /^(Installed|Updated) /m)
    const before = await busctl(sb, ['call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'NameHasOwner', 's', 'org.freedesktop.machine1'])
    assert.equal(before.reply, 'b false')
    // The first call starts it.
    const list = await callManager(sb, 'ListMachines')
    assert.equal(list.ok, true, list.stderr)
    const pid = Number((await busctl(sb, ['call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetConnectionUnixProcessID', 's', 'org.freedesktop.machine1'])).reply.split(' ')[1])
    const cmdline = sb.execSync(['cat', `/proc/${pid}/cmdline`]).stdout.split('\0').join(' ').trim()
    assert.equal(cmdline, `${process.execPath} ${join(REPO, 'bin/machined.js')} --no-embedded-bus`)
    sb.execSync(['kill', String(pid)])
    await eventually(async () => (await busctl(sb, ['call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'NameHasOwner', 's', 'org.freedesktop.machine1'])).reply === 'b false', 10_000, 'the activated daemon to stop')
    const uninstall = await sb.exec(MACHINED.concat('uninstall-service'))
    assert.equal(uninstall.code, 0, uninstall.stderr)
    assert.match(uninstall.stdout, /^Removed \/usr\/local\/share\/dbus-1\/system-services\/org\.freedesktop\.machine1\.service$/m)
    assert.match(uninstall.stdout, /^Removed \/etc\/dbus-1\/system\.d\/org\.freedesktop\.machine1\.conf$/m)
    const twice = await sb.exec(MACHINED.concat('uninstall-service'))
    assert.doesNotMatch(twice.stdout, /^Removed /m)
  })

  it('install-service refuses to run as another user than root', async () => {
    const sb = await Sandbox.start({ daemon: false, bus: false })
    sandboxes.push(sb)
    const r = await sb.exec([...asUser(), ...machinedForAnyUser(), 'install-service'])
    assert.equal(r.code, 1)
    assert.equal(r.stderr, 'machined install-service: Must be run as root: it writes under /etc and /usr/local and asks the init system to reload.\n')
  })
})
