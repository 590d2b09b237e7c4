// libvirt 9 (Debian's libvirtd with its QEMU and LXC drivers) on a systemd
// host served by machined-ts from its shipped unit: the systemd guest in its
// hybrid variant, since libvirt needs cgroup controllers and this kind of
// host binds them all to v1 (helpers/systemd-guest.ts). Every machine1 and
// systemd1 call is recorded with dbus-monitor in the guest; docs/compat.md
// ("libvirt") lists them. The LXC start is then replayed against the guest's
// own systemd-machined 252, which must answer libvirt alike. Where the LXC
// driver can work, a guest with controllers on cgroup2, is libvirt-vm.test.ts.
import { after, before, describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { installBusyboxTree } from '../helpers/busybox-tree.ts'
import { cgroupOf, parseProcCgroup, type ProcCgroupLine } from '../../src/linux/cgroup-paths.ts'
import { cgroupLayoutOf } from '../helpers/cgroups.ts'
import { eventually, type ExecResult } from '../helpers/sandbox.ts'
import { SystemdGuest } from '../helpers/systemd-guest.ts'

interface BusCall { readonly sender: string; readonly destination: string; readonly path: string; readonly member: string; readonly args: string }

/** One `virsh start` of the LXC domain: the bus calls it made, and where libvirt's controller process was each time it was seen. */
interface LxcAttempt {
  readonly start: ExecResult
  readonly calls: readonly BusCall[]
  /** lxc-<controller PID>-bb */
  readonly name: string
  /** libvirt_lxc, the controller, which names the machine after its own PID. */
  readonly controller: number
  /** The container's init, the machine's leader. */
  readonly init: number
  /** The controller's /proc/PID/cgroup, each time it changed, from its start until it was reaped. */
  readonly controllerCgroups: readonly (readonly ProcCgroupLine[])[]
}

/**
 * Runs in the guest during an LXC start: records /proc/PID/cgroup of every
 * libvirt_lxc process (the controller, and the container's init before it
 * execs) whenever it changes, one JSON line each, in /run/lxc-cgroups.log
 * (after a first line `{}`: it runs).
 */
const LXC_POLLER = [
  'import json, os, time',
  'seen = {}',
  "out = open('/run/lxc-cgroups.log', 'a', buffering=1)",
  "out.write('{}\\n')",
  'while True:',
  "    for pid in filter(str.isdigit, os.listdir('/proc')):",
  '        try:',
  "            if open(f'/proc/{pid}/comm').read().strip() != 'libvirt_lxc': continue",
  "            cgroup = open(f'/proc/{pid}/cgroup').read()",
  '        except OSError: continue',
  '        if seen.get(pid) != cgroup:',
  '            seen[pid] = cgroup',
  "            out.write(json.dumps({'pid': int(pid), 'cgroup': cgroup}) + '\\n')",
  '    time.sleep(0.002)',
].join('\n')

/** dbus-monitor's method calls: one entry per call, its arguments as printed. */
function methodCalls(log: string): BusCall[] {
  const calls: BusCall[] = []
  for (const block of log.split(/\n(?=\S)/)) {
    const m = /^method call time=\S+ sender=(\S+) -> destination=(\S+) serial=\d+ path=([^;]+); interface=([^;]+); member=(\S+)/.exec(block)
    if (m !== null) calls.push({ sender: m[1]!, destination: m[2]!, path: m[3]!, member: `${m[4]}.${m[5]}`, args: block.slice(block.indexOf('\n') + 1) })
  }
  return calls
}

void describe('libvirt on a systemd host served by machined-ts', { timeout: 600_000 }, () => {
  let guest: SystemdGuest
  const sh = (script: string) => guest.enter(['sh', '-s'], { input: script, timeoutMs: 120_000 })
  const machines = async (): Promise<string[]> => (await guest.enter(['machinectl', 'list', '--no-legend'])).stdout.split('\n').filter((l) => l.trim() !== '').map((l) => l.trim().split(/\s+/).slice(0, 3).join(' '))
  const calls = (): BusCall[] => methodCalls(guest.readFile('/run/bus-monitor.log'))

  before(async () => {
    guest = await SystemdGuest.start({ cgroups: 'hybrid' })
    await guest.installMachined()
    // libvirt-daemon without libvirt-daemon-system: the QEMU user it is built with, qemu run as root, logs to files.
    guest.writeFile('/etc/libvirt/qemu.conf', 'user = "root"\ngroup = "root"\nstdio_handler = "file"\n')
    const setup = await sh([
      'useradd --system --user-group --no-create-home --home-dir /var/lib/libvirt libvirt-qemu',
      `systemd-run --unit=bus-monitor sh -c "exec dbus-monitor --system \\"type='method_call',destination='org.freedesktop.machine1'\\" \\"type='method_call',destination='org.freedesktop.systemd1'\\" \\"type='method_call',destination='org.freedesktop.DBus',member='ListActivatableNames'\\" \\"type='method_call',destination='org.freedesktop.DBus',member='ListNames'\\" >/run/bus-monitor.log 2>&1"`,
      'systemd-run --unit=libvirtd --service-type=exec /usr/sbin/libvirtd',
    ].join(' && '))
    assert.equal(setup.code, 0, setup.stderr)
    await eventually(async () => (await guest.enter(['test', '-S', '/run/libvirt/libvirt-sock'])).code === 0, 20_000, 'libvirtd to listen')
  })

  after(async () => {
    await guest?.stop()
  })

  it('QEMU (TCG): the domain registers (CreateMachineWithNetwork), lists, keeps qemu in its scope, and goes with virsh destroy', async () => {
    guest.writeFile('/root/vm1.xml', "<domain type='qemu'><name>vm1</name><memory unit='MiB'>128</memory><os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>\n")
    const start = await sh('virsh -c qemu:///system define /root/vm1.xml && virsh -c qemu:///system start vm1')
    assert.equal(start.code, 0, start.stderr)
    assert.deepEqual(await machines(), ['qemu-1-vm1 vm libvirt-qemu'])
    const leader = (await guest.enter(['machinectl', 'show', 'qemu-1-vm1', '-p', 'Leader', '--value'])).stdout.trim()
    assert.match((await guest.enter(['cat', `/proc/${leader}/comm`])).stdout, /^qemu-system-x86/)
    const cgroups = (await guest.enter(['cat', `/proc/${leader}/cgroup`])).stdout
    assert.match(cgroups, /^0::\/machine\.slice\/machine-qemu\\x2d1\\x2dvm1\.scope$/m)
    assert.match(cgroups, /^\d+:name=systemd:\/machine\.slice\/machine-qemu\\x2d1\\x2dvm1\.scope$/m)
    assert.match((await guest.enter(['machinectl', 'show', 'qemu-1-vm1', '-p', 'Unit', '--value'])).stdout.trim(), /^machine-qemu\\x2d1\\x2dvm1\.scope$/)
    const destroy = await guest.enter(['virsh', '-c', 'qemu:///system', 'destroy', 'vm1'])
    assert.equal(destroy.code, 0, destroy.stderr)
    await eventually(async () => (await machines()).length === 0, 10_000, 'qemu-1-vm1 to go')
    const libvirtCalls = calls().filter((c) => c.destination === 'org.freedesktop.machine1' && c.args.includes('qemu-1-vm1') || c.path.endsWith('qemu_2d1_2dvm1'))
    const create = libvirtCalls.find((c) => c.member === 'org.freedesktop.machine1.Manager.CreateMachineWithNetwork')
    assert.ok(create !== undefined, 'no CreateMachineWithNetwork')
    assert.match(create.args, /string "qemu-1-vm1"[\s\S]*string "libvirt-qemu"\s+string "vm"\s+uint32 (\d+)/)
    assert.equal(/uint32 (\d+)/.exec(create.args)![1], leader)
    assert.match(create.args, /string "Slice"\s+variant\s+string "machine\.slice"/)
    // After creating, libvirt looks its machine up by qemu's PID and asks for the unit.
    const all = calls()
    const after = all.slice(all.findIndex((c) => c.member.endsWith('CreateMachineWithNetwork')))
    assert.ok(after.some((c) => c.member === 'org.freedesktop.machine1.Manager.GetMachineByPID' && c.args.includes(`uint32 ${leader}`)))
    assert.ok(after.some((c) => c.member === 'org.freedesktop.DBus.Properties.Get' && c.args.includes('string "Unit"')))
    assert.ok(after.some((c) => c.member === 'org.freedesktop.machine1.Manager.TerminateMachine' && c.args.includes('string "qemu-1-vm1"')))
    assert.deepEqual(after.filter((c) => c.destination === 'org.freedesktop.systemd1' && c.sender === create.sender), [], 'libvirt called systemd1 itself')
  })

  /**
   * Starts the LXC domain `bb` with virsh, watching every libvirt_lxc process's
   * /proc/PID/cgroup meanwhile (a poller in the guest, each change recorded), and
   * returns what the machine1 daemon was asked and what libvirt got.
   */
  async function startLxc(): Promise<LxcAttempt> {
    const before = calls().length
    guest.writeFile('/run/lxc-cgroups.log', '')
    guest.writeFile('/root/lxc-cgroups.py', LXC_POLLER)
    const poll = await guest.enter(['systemd-run', '--unit=lxc-cgroups', '--collect', 'python3', '/root/lxc-cgroups.py'])
    assert.equal(poll.code, 0, poll.stderr)
    await eventually(() => guest.readFile('/run/lxc-cgroups.log').startsWith('{}'), 10_000, 'the cgroup poller to run')
    let start: ExecResult
    try {
      start = await sh('virsh -c lxc:/// start bb')
    } finally {
      await guest.enter(['systemctl', 'stop', 'lxc-cgroups.service'])
    }
    const lxc = calls().slice(before)
    const create = lxc.find((c) => c.member === 'org.freedesktop.machine1.Manager.CreateMachineWithNetwork')
    assert.ok(create !== undefined, `no CreateMachineWithNetwork: ${start.stderr}`)
    const m = /string "(lxc-(\d+)-bb)"[\s\S]*string "libvirt-lxc"\s+string "container"\s+uint32 (\d+)/.exec(create.args)
    assert.ok(m !== null, create.args)
    const controller = Number(m[2])
    const seen = guest.readFile('/run/lxc-cgroups.log').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { pid?: number; cgroup?: string })
    return {
      start, calls: lxc, name: m[1]!, controller, init: Number(m[3]),
      controllerCgroups: seen.filter((s) => s.pid === controller).map((s) => parseProcCgroup(s.cgroup ?? '')),
    }
  }

  /** Asserts what libvirt's LXC start did against the machine1 daemon now serving; leaves no machine behind. */
  async function assertLxcStory(t: TestContext, lxc: LxcAttempt): Promise<void> {
    const { start, name, controller, init } = lxc
    // CreateMachine answered once the init was in the scope: libvirt's own check of that passed.
    const byLeader = lxc.calls.filter((c) => c.member === 'org.freedesktop.machine1.Manager.GetMachineByPID' && c.args.includes(`uint32 ${init}`))
    assert.equal(byLeader.length, 1)
    assert.ok(lxc.calls.some((c) => c.member === 'org.freedesktop.DBus.Properties.Get' && c.args.includes('string "Unit"')))
    // libvirtd then looks the machine up by its controller's PID (libvirt_lxc).
    assert.ok(lxc.calls.some((c) => c.member === 'org.freedesktop.machine1.Manager.GetMachineByPID' && c.args.includes(`uint32 ${controller}`)))
    const guestCgroup2 = cgroupLayoutOf(`/proc/${guest.leader}/mountinfo`).unified
    const cgroup2Controllers = (await guest.enter(['cat', `${guestCgroup2}/cgroup.controllers`])).stdout.trim()
    if (start.code === 0) {
      t.diagnostic(`libvirt-lxc started the domain (cgroup2 controllers here: "${cgroup2Controllers}")`)
      assert.deepEqual(await machines(), [`${name} container libvirt-lxc`])
      assert.equal((await guest.enter(['virsh', '-c', 'lxc:///', 'destroy', 'bb'])).code, 0)
    } else {
      // Here: cgroup2 has no controllers, so libvirt handles v1 only: its controller joins the scope in
      // the v1 resource controllers, never in cgroup2 (where systemd tracks processes on a hybrid host)
      // nor in name=systemd, so the scope's unit is not the controller's.
      t.diagnostic(`libvirt-lxc gave up after registering: ${start.stderr.trim().split('\n').at(-1)}`)
      assert.equal(cgroup2Controllers, '', 'libvirt failed although cgroup2 has controllers')
      assert.match(start.stderr, new RegExp(`org\\.freedesktop\\.machine1\\.NoMachineForPID: PID ${controller} does not belong to any known machine`))
      assert.ok(lxc.calls.some((c) => c.member === 'org.freedesktop.machine1.Manager.TerminateMachine' && c.args.includes(`string "${name}"`)))
      const unit = (await guest.enter(['machinectl', 'show', name, '-p', 'Unit', '--value'])).stdout.trim()
      const scope = `/machine.slice/${unit}`
      const inScope = (path: string | undefined) => path !== undefined && (path === scope || path.startsWith(`${scope}/`))
      assert.ok(inScope(cgroupOf(parseProcCgroup((await guest.enter(['cat', `/proc/${init}/cgroup`])).stdout), 'unified')), `the init is not in ${scope}`)
      assert.ok(lxc.controllerCgroups.length > 0, 'the controller was never seen')
      for (const lines of lxc.controllerCgroups) {
        assert.ok(!inScope(cgroupOf(lines, 'unified')), `the controller in ${scope} in cgroup2`)
        assert.ok(!inScope(cgroupOf(lines, 'name=systemd')), `the controller in ${scope} in name=systemd`)
      }
      const last = lxc.controllerCgroups.findLast((lines) => cgroupOf(lines, 'memory') !== '/') ?? []
      t.diagnostic(`the controller, last seen alive: cgroup2 ${cgroupOf(last, 'unified')}, name=systemd ${cgroupOf(last, 'name=systemd')}, memory ${cgroupOf(last, 'memory')}`)
      // What is left is the container's init, still waiting for libvirt's go-ahead; it ignores the
      // scope's SIGTERM, so the stop would take TimeoutStopSec (90 s): kill it as an admin would.
      assert.equal((await guest.enter(['machinectl', 'kill', '--signal=KILL', name])).code, 0)
    }
    await eventually(async () => (await machines()).length === 0, 10_000, `${name} to go`)
  }

  let servedByUs: LxcAttempt | undefined

  it('LXC: the domain registers with its init in the scope; where the guest\'s cgroup2 has no controllers libvirt 9 then looks up its controller process, which is outside the scope, and gives up', async (t) => {
    installBusyboxTree(guest.hostPath('/var/lib/machines/bb'))
    guest.writeFile('/root/bb.xml', "<domain type='lxc'><name>bb</name><memory unit='MiB'>64</memory><os><type>exe</type><init>/sbin/init</init></os><devices><filesystem type='mount'><source dir='/var/lib/machines/bb'/><target dir='/'/></filesystem><console type='pty'/></devices></domain>\n")
    const define = await guest.enter(['virsh', '-c', 'lxc:///', 'define', '/root/bb.xml'])
    assert.equal(define.code, 0, define.stderr)
    servedByUs = await startLxc()
    await assertLxcStory(t, servedByUs)
  })

  it('LXC under systemd-machined 252 in the same guest: libvirt makes the same calls and gets the same answers', async (t) => {
    assert.ok(servedByUs !== undefined, 'the machined-ts LXC case did not run')
    // The reference implementation takes the name, switched to as the README says: uninstall-service, then systemd-machined.
    const uninstall = await guest.enter([...guest.machinedCommand, 'uninstall-service'])
    assert.equal(uninstall.code, 0, uninstall.stderr)
    const swap = await sh('systemctl start systemd-machined.service && busctl status org.freedesktop.machine1')
    assert.equal(swap.code, 0, swap.stderr)
    assert.match(swap.stdout, /^CommandLine=\/lib\/systemd\/systemd-machined$/m)
    const real = await startLxc()
    await assertLxcStory(t, real)
    const machine1 = (a: LxcAttempt) => a.calls.filter((c) => c.destination === 'org.freedesktop.machine1').map((c) => c.member)
    assert.deepEqual(machine1(real), machine1(servedByUs))
    assert.equal(real.start.code, servedByUs.start.code)
    assert.equal(real.start.stderr.replaceAll(String(real.controller), 'N'), servedByUs.start.stderr.replaceAll(String(servedByUs.controller), 'N'))
  })
})
