// libvirt 9's LXC driver against machined-ts on a pure cgroup2 systemd host
// with controllers: the systemd guest's tree booted as a qemu VM (TCG), whose
// own kernel puts every controller on cgroup2 whatever the test host binds
// to v1 (helpers/libvirt-vm.ts). In the VM machined-ts runs from its shipped
// unit (`machined install-service`, systemd-machined masked), and
// helpers/libvirt-vm-scenario.sh starts and destroys one LXC domain with
// virsh, recording machine1's bus calls with dbus-monitor; docs/compat.md
// ("libvirt") lists them.
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runLibvirtScenario, type LibvirtVmRun } from '../helpers/libvirt-vm.ts'

const DOMAIN = "<domain type='lxc'><name>bb</name><memory unit='MiB'>64</memory><os><type>exe</type><init>/sbin/init</init></os><devices><filesystem type='mount'><source dir='/var/lib/machines/bb'/><target dir='/'/></filesystem><console type='pty'/></devices></domain>\n"

void describe('libvirt LXC in a pure cgroup2 systemd VM served by machined-ts', { timeout: 15 * 60_000 }, () => {
  let run: LibvirtVmRun
  const section = (name: string): string => {
    const text = run.sections.get(name)
    assert.ok(text !== undefined, `the scenario printed no "${name}" section`)
    return text
  }
  const lines = (name: string): string[] => section(name).split('\n').filter((l) => l.trim() !== '')

  before(async () => {
    run = await runLibvirtScenario({ 'bb.xml': DOMAIN })
  })

  it('the VM is a systemd host on pure cgroup2 with the controllers libvirt needs, machined-ts serving machine1 from its unit', (t) => {
    t.diagnostic(`VM run (boot, scenario, power-off): ${run.seconds.toFixed(0)} s`)
    const host = section('host')
    assert.match(host, /^cgroupfs cgroup2fs$/m)
    assert.match(host, /^pid1 systemd$/m)
    const controllers = /^controllers (.*)$/m.exec(host)?.[1]?.split(' ') ?? []
    for (const c of ['cpu', 'memory', 'pids']) assert.ok(controllers.includes(c), `no ${c} on cgroup2: ${host}`)
    assert.match(section('install'), /^Unit=machined-ts\.service$/m)
  })

  it('virsh start: the domain registers through CreateMachineWithNetwork and lists in machinectl list', () => {
    assert.match(section('start'), /^rc 0$/m, section('start') + section('journal'))
    const list = lines('list').map((l) => l.trim().split(/\s+/).slice(0, 3).join(' '))
    assert.equal(list.length, 1, section('list'))
    const m = /^(lxc-(\d+)-bb) container libvirt-lxc$/.exec(list[0]!)
    assert.ok(m !== null, list[0])
    const create = section('bus').split(/\n(?=\S)/).find((b) => /member=CreateMachineWithNetwork/.test(b))
    assert.ok(create !== undefined, 'no CreateMachineWithNetwork on the bus')
    assert.match(create, new RegExp(`string "${m[1]}"[\\s\\S]*string "libvirt-lxc"\\s+string "container"\\s+uint32 \\d+`))
    assert.match(create, /string "Slice"\s+variant\s+string "machine\.slice"/)
    // machined-ts asked systemd for the scope with the init in it, delegated (libvirt makes its libvirt/ group below).
    const leader = /uint32 (\d+)/.exec(create)![1]
    const scope = section('bus').split(/\n(?=\S)/).find((b) => /member=StartTransientUnit/.test(b) && b.includes(`string "machine-lxc\\x2d${m[2]}\\x2dbb.scope"`))
    assert.ok(scope !== undefined, 'no StartTransientUnit for the scope')
    assert.match(scope, new RegExp(`string "PIDs"\\s+variant\\s+array \\[\\s+uint32 ${leader}\\s+\\]`))
    assert.match(scope, /string "Delegate"\s+variant\s+boolean true/)
  })

  it('the container\'s processes and libvirt\'s controller are in the machine\'s scope on cgroup2, and GetMachineByPID(controller) names the machine', () => {
    const show = section('show')
    const unit = /^Unit=(.*)$/m.exec(show)?.[1]
    const leader = /^Leader=(\d+)$/m.exec(show)?.[1]
    assert.ok(unit !== undefined && leader !== undefined, show)
    assert.match(unit, /^machine-lxc\\x2d\d+\\x2dbb\.scope$/)
    const scope = lines('scope').map((l) => l.split('\t'))
    assert.ok(scope.length > 0, 'nothing in the scope')
    for (const [cgroup] of scope) assert.ok(cgroup!.startsWith(`/machine.slice/${unit}/`), `${cgroup} is not under the scope`)
    assert.ok(scope.some(([, pid]) => pid === leader), `the leader ${leader} is not in the scope:\n${section('scope')}`)
    // The container's init has a child (busybox's init script runs sleep): all of them are in the scope.
    assert.ok(scope.some(([, , comm]) => comm === 'sleep'), section('scope'))
    assert.ok(scope.some(([, , comm]) => comm === 'libvirt_lxc'), `libvirt's controller is not in the scope:\n${section('scope')}\n${section('procs')}`)
    assert.match(section('bypid'), /^o "\/org\/freedesktop\/machine1\/machine\/lxc_2d\d+_2dbb"$/m)
    // libvirtd itself looked the machine up by its controller's PID during the start (and went on: the start succeeded).
    const controller = scope.find(([, , comm]) => comm === 'libvirt_lxc')![1]!
    const calls = section('bus').split(/\n(?=\S)/)
    const created = calls.findIndex((b) => /member=CreateMachineWithNetwork/.test(b))
    const listed = calls.findIndex((b) => /member=ListMachines/.test(b))
    assert.ok(calls.slice(created, listed).some((b) => /member=GetMachineByPID/.test(b) && b.includes(`uint32 ${controller}`)), 'libvirtd did not look up its controller')
  })

  it('virsh destroy: the machine and its scope go', () => {
    assert.match(section('destroy'), /^rc 0$/m, section('destroy'))
    assert.deepEqual(lines('after'), [])
  })
})
