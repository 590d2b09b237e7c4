// Every mutating or access-granting method, called by a user other than
// root (nobody, 65534, through setpriv) with real clients: busctl through
// the system bus and Python's Varlink client through the socket (mode
// 0666, as systemd's). The bus policy here is the one machined-ts installs
// where systemd's is missing (data/org.freedesktop.machine1.conf: anyone
// may send), so every D-Bus denial below comes from the daemon's own
// check, as every Varlink one must (Varlink has no bus policy). With
// systemd's packaged policy, dbus-daemon refuses the methods it does not
// list before they reach us: the last part shows which layer says no.
// Afterwards every machine is exactly as it was. Then, with
// --allow-user-registration, nobody may register machines whose leader it
// owns, up to its per-UID limit, and act on those only.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { machineObjectPath } from '../../src/protocol/bus-path.ts'
import type { BusConnection } from '../../src/wire/dbus/bus.ts'
import { asUser, busctl, DEST, MANAGER_IFACE, MANAGER_PATH, createMachine, type BusctlReply } from '../helpers/busctl.ts'
import { busOf, registrySnapshot } from '../helpers/clients.ts'
import { Sandbox } from '../helpers/sandbox.ts'
import { call1, calls, SOCKET, type Call, type Reply } from '../helpers/varlink-py.ts'

const NOBODY = asUser(65534)
const MACHINE_IFACE = 'org.freedesktop.machine1.Machine'
const ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied'
const PERMISSION_DENIED = 'org.varlink.service.PermissionDenied'
/** What dbus-daemon itself says when its policy refuses a message. */
const BUS_POLICY_DENIAL = /^Rejected send message/

type DbusCase = readonly [path: string, iface: string, member: string, signature: string, ...args: (string | number)[]]

/** Every Manager and Machine method that changes something or hands out access, aimed at `name`; registrations name `leader`. */
function dbusCases(name: string, leader: number, fresh: (i: number) => string): DbusCase[] {
  const m = (member: string, signature = '', ...args: (string | number)[]): DbusCase => [MANAGER_PATH, MANAGER_IFACE, member, signature, ...args]
  const o = (member: string, signature = '', ...args: (string | number)[]): DbusCase => [machineObjectPath(name), MACHINE_IFACE, member, signature, ...args]
  return [
    m('CreateMachine', 'sayssusa(sv)', fresh(1), 0, 'svc', 'container', leader, '', 0),
    m('CreateMachineWithNetwork', 'sayssusaia(sv)', fresh(2), 0, 'svc', 'container', leader, '', 0, 0),
    m('RegisterMachine', 'sayssus', fresh(3), 0, 'svc', 'container', leader, ''),
    m('RegisterMachineWithNetwork', 'sayssusai', fresh(4), 0, 'svc', 'container', leader, '', 0),
    m('CreateMachineEx', 'sa(sv)a(sv)', fresh(5), 2, 'Class', 's', 'container', 'LeaderPID', 'u', leader, 0),
    m('RegisterMachineEx', 'sa(sv)', fresh(6), 2, 'Class', 's', 'container', 'LeaderPID', 'u', leader),
    m('UnregisterMachine', 's', name),
    m('TerminateMachine', 's', name),
    m('KillMachine', 'ssi', name, 'all', 9),
    m('KillMachine', 'ssi', name, 'leader', 9),
    m('OpenMachinePTY', 's', name),
    m('OpenMachineLogin', 's', name),
    m('OpenMachineShell', 'sssasas', name, 'root', '/bin/sh', 0, 0),
    m('BindMountMachine', 'sssbb', name, '/tmp', '/mnt', 'false', 'true'),
    m('CopyFromMachine', 'sss', name, '/etc/hostname', '/tmp/rl-copy'),
    m('CopyToMachine', 'sss', name, '/etc/hostname', '/tmp/rl-copy'),
    m('CopyFromMachineWithFlags', 'ssst', name, '/etc/hostname', '/tmp/rl-copy', 0),
    m('CopyToMachineWithFlags', 'ssst', name, '/etc/hostname', '/tmp/rl-copy', 0),
    m('OpenMachineRootDirectory', 's', name),
    m('SetPoolLimit', 't', 1 << 30),
    m('CleanPool', 's', 'all'),
    // Images: .host is always there, and a refusal comes before its being read-only.
    m('RemoveImage', 's', '.host'),
    m('RenameImage', 'ss', '.host', 'rl-image'),
    m('CloneImage', 'ssb', '.host', 'rl-image', 'false'),
    m('MarkImageReadOnly', 'sb', '.host', 'true'),
    m('SetImageLimit', 'st', '.host', 1 << 30),
    o('Terminate'),
    o('Kill', 'si', 'all', 9),
    o('OpenPTY'),
    o('OpenLogin'),
    o('OpenShell', 'ssasas', 'root', '/bin/sh', 0, 0),
    o('BindMount', 'ssbb', '/tmp', '/mnt', 'false', 'true'),
    o('CopyFrom', 'ss', '/etc/hostname', '/tmp/rl-copy'),
    o('CopyTo', 'ss', '/etc/hostname', '/tmp/rl-copy'),
    o('CopyFromWithFlags', 'sst', '/etc/hostname', '/tmp/rl-copy', 0),
    o('CopyToWithFlags', 'sst', '/etc/hostname', '/tmp/rl-copy', 0),
    o('OpenRootDirectory'),
  ]
}

/** The same over Varlink: every io.systemd.Machine method that changes something or hands out access. */
function varlinkCases(name: string, leader: number, fresh: (i: number) => string): Call[] {
  const c = (method: string, parameters: Record<string, unknown>): Call => ({ method: `io.systemd.Machine.${method}`, parameters })
  return [
    c('Register', { name: fresh(7), class: 'container', leader, allocateUnit: true }),
    c('Register', { name: fresh(8), class: 'container', leader }),
    c('Unregister', { name }),
    c('Terminate', { name }),
    c('Kill', { name, whom: 'all', signal: 9 }),
    c('Kill', { name, whom: 'leader', signal: 9 }),
    c('Open', { name, mode: 'tty' }),
    c('Open', { name, mode: 'login' }),
    c('Open', { name, mode: 'shell', user: 'root', path: '/bin/sh', args: ['sh'] }),
    c('BindMount', { name, source: '/tmp', destination: '/mnt' }),
    c('CopyFrom', { name, source: '/etc/hostname', destination: '/tmp/rl-copy' }),
    c('CopyTo', { name, source: '/etc/hostname', destination: '/tmp/rl-copy' }),
    c('OpenRootDirectory', { name }),
    ...[
      ['Remove', { name: '.host' }], ['Update', { name: '.host', readOnly: true }], ['Clone', { name: '.host', newName: 'rl-image' }],
      ['SetPoolLimit', { limit: 1 << 30 }],
    ].map(([method, parameters]) => ({ method: `io.systemd.MachineImage.${method as string}`, parameters: parameters as Record<string, unknown> })),
    { method: 'io.systemd.MachineImage.CleanPool', parameters: { mode: 'all' }, more: true },
  ]
}

/**
 * Copies and bind mounts look at the machine's class before the caller, as
 * systemd 252 does (bus_machine_method_copy(), _bind_mount()): on a VM
 * they answer NotSupported to anybody. Nothing changes either way.
 */
const CONTAINER_ONLY_FIRST = /^(BindMount|CopyFrom|CopyTo)/

function expectedDbus(c: DbusCase, isVm: boolean): string {
  return isVm && CONTAINER_ONLY_FIRST.test(c[2].replace(/Machine/, '')) ? 'org.freedesktop.DBus.Error.NotSupported' : ACCESS_DENIED
}

function expectedVarlink(c: Call, isVm: boolean): string {
  return isVm && CONTAINER_ONLY_FIRST.test(c.method.replace('io.systemd.Machine.', '')) ? 'io.systemd.Machine.NotSupported' : PERMISSION_DENIED
}

function label(c: DbusCase): string {
  return `${c[1] === MANAGER_IFACE ? 'Manager' : 'Machine'}.${c[2]}`
}

async function runDbus(sb: Sandbox, cases: readonly DbusCase[], as: readonly string[]): Promise<BusctlReply[]> {
  const out: BusctlReply[] = []
  // A few at a time: each is a busctl process.
  for (let i = 0; i < cases.length; i += 6) {
    out.push(...await Promise.all(cases.slice(i, i + 6).map(([path, iface, member, signature, ...args]) =>
      busctl(sb, ['call', DEST, path, iface, member, ...(signature === '' ? [] : [signature]), ...args.map(String)], as))))
  }
  return out
}

async function runVarlink(sb: Sandbox, cases: readonly Call[], as: readonly string[]): Promise<Reply[]> {
  const { results } = await calls(sb, cases, SOCKET, as)
  return results.map((r) => r.at(-1)!)
}

describe('authorisation of unprivileged callers, in the daemon itself', () => {
  let sb: Sandbox
  let bus: BusConnection
  let rootDbus = ''
  let rootVarlink = ''
  let rootLeaders: number[] = []
  const figures: string[] = []

  before(async () => {
    sb = await Sandbox.start({ hidePolicies: true })
    bus = await busOf(sb)
    rootLeaders = (await Promise.all([sb.spawnLeader(), sb.spawnLeader()])).map((c) => c.pid!)
    rootDbus = sb.name('rl-root-dbus')
    rootVarlink = sb.name('rl-root-vl')
    assert.equal((await createMachine(sb, { name: rootDbus, leader: rootLeaders[0]!, root: '/srv/rl-root', id: '0123456789abcdef0123456789abcdef' })).ok, true)
    assert.deepEqual(await call1(sb, 'io.systemd.Machine.Register', { name: rootVarlink, class: 'vm', leader: rootLeaders[1]!, rootDirectory: '/srv/rl-vm', allocateUnit: true }), { parameters: {} })
  })
  after(async () => {
    bus?.close()
    await sb?.stop()
  })

  it('denies every mutating and access-granting call from nobody over both transports, leaving every machine unchanged', async (t) => {
    assert.equal(statSync(sb.hostPath(SOCKET)).mode & 0o777, 0o666, 'anyone may connect to the Varlink socket, as to systemd\'s')
    const own = await sb.spawnLeader([...NOBODY, 'sleep', '1000'])
    const before = await registrySnapshot(sb, bus)
    let dbusDenied = 0
    let varlinkDenied = 0
    for (const target of [rootDbus, rootVarlink]) {
      // Registrations name root's leader, then one nobody owns itself: both are refused while user registration is off.
      for (const leader of [rootLeaders[0]!, own.pid!]) {
        const cases = dbusCases(target, leader, (i) => sb.name(`rl-denied${i}`))
        const replies = await runDbus(sb, cases, NOBODY)
        for (const [i, r] of replies.entries()) {
          assert.equal(r.errorName, expectedDbus(cases[i]!, target === rootVarlink), `${label(cases[i]!)} on ${target}: ${r.stderr}`)
          assert.doesNotMatch(r.errorMessage ?? '', BUS_POLICY_DENIAL, 'denied by the daemon, not by the bus policy')
        }
        dbusDenied += replies.length
        const vcases = varlinkCases(target, leader, (i) => sb.name(`rl-denied${i}`))
        const vreplies = await runVarlink(sb, vcases, NOBODY)
        for (const [i, r] of vreplies.entries()) assert.equal(r.error, expectedVarlink(vcases[i]!, target === rootVarlink), `${vcases[i]!.method} on ${target}: ${JSON.stringify(r)}`)
        varlinkDenied += vreplies.length
      }
    }
    assert.equal(await registrySnapshot(sb, bus), before, 'every machine, file and scope is exactly as it was')
    // Reading stays open, but not the fields that point into another user's machine (CVE-2016-6349).
    const root = await busctl(sb, ['get-property', DEST, machineObjectPath(rootDbus), MACHINE_IFACE, 'RootDirectory'], NOBODY)
    assert.equal(root.reply, 's ""')
    const seen = await calls(sb, [{ method: 'io.systemd.Machine.List', parameters: { name: rootDbus } }], SOCKET, NOBODY)
    assert.equal(seen.results[0]![0]!.parameters?.rootDirectory, undefined)
    assert.equal(seen.results[0]![0]!.parameters?.name, rootDbus)
    figures.push(`reliability denial: nobody denied dbus=${dbusDenied} varlink=${varlinkDenied} (by the daemon; policy allows all) machines_changed=0`)
    t.diagnostic(figures.at(-1)!)
  })

  it('with --allow-user-registration, lets nobody register and act on machines whose leader it owns, up to its limit, and nothing of root\'s', async (t) => {
    await sb.stopDaemon()
    await sb.startDaemon(['--allow-user-registration', '--max-machines-per-uid=2'])
    const owned = (await Promise.all([0, 1, 2].map(() => sb.spawnLeader([...NOBODY, 'sleep', '1000'])))).map((c) => c.pid!)
    const before = await registrySnapshot(sb, bus)

    // Everything aimed at root's machines, and registrations of root's leader, are still refused.
    let denied = 0
    for (const target of [rootDbus, rootVarlink]) {
      const cases = dbusCases(target, rootLeaders[0]!, (i) => sb.name(`rl-theirs${i}`)).filter((c) => !['SetPoolLimit', 'CleanPool'].includes(c[2]) && !c[2].includes('Image'))
      for (const [i, r] of (await runDbus(sb, cases, NOBODY)).entries()) {
        assert.equal(r.errorName, expectedDbus(cases[i]!, target === rootVarlink), `${label(cases[i]!)} on ${target}: ${r.stderr}`)
        denied++
      }
      const vcases = varlinkCases(target, rootLeaders[0]!, (i) => sb.name(`rl-theirs${i}`))
      for (const [i, r] of (await runVarlink(sb, vcases, NOBODY)).entries()) {
        assert.equal(r.error, expectedVarlink(vcases[i]!, target === rootVarlink), `${vcases[i]!.method} on ${target}: ${JSON.stringify(r)}`)
        denied++
      }
    }
    const theirs = await busctl(sb, ['call', DEST, MANAGER_PATH, MANAGER_IFACE, 'RegisterMachine', 'sayssus', sb.name('rl-theirs'), '0', 's', 'container', String(rootLeaders[0]!), ''], NOBODY)
    assert.equal(theirs.errorMessage, 'Only root may register machines for other users')
    assert.equal(await registrySnapshot(sb, bus), before, 'root\'s machines are exactly as they were')

    // Its own: one over each transport, then the per-UID limit (2) on both.
    const mine = [sb.name('rl-mine-dbus'), sb.name('rl-mine-vl')]
    const reg = await busctl(sb, ['call', DEST, MANAGER_PATH, MANAGER_IFACE, 'RegisterMachine', 'sayssus', mine[0]!, '0', 'own', 'container', String(owned[0]!), '/srv/mine'], NOBODY)
    assert.equal(reg.ok, true, reg.stderr)
    assert.deepEqual((await runVarlink(sb, [{ method: 'io.systemd.Machine.Register', parameters: { name: mine[1]!, class: 'container', leader: owned[1]!, allocateUnit: true } }], NOBODY))[0], { parameters: {} })
    const over = await busctl(sb, ['call', DEST, MANAGER_PATH, MANAGER_IFACE, 'RegisterMachine', 'sayssus', sb.name('rl-over'), '0', 'own', 'container', String(owned[2]!), ''], NOBODY)
    assert.equal(over.errorName, 'org.freedesktop.DBus.Error.LimitsExceeded')
    assert.match(over.errorMessage ?? '', /UID 65534 \(2\)/)
    const vover = (await runVarlink(sb, [{ method: 'io.systemd.Machine.Register', parameters: { name: sb.name('rl-over'), class: 'container', leader: owned[2]! } }], NOBODY))[0]!
    assert.equal(vover.error, 'io.systemd.System')
    assert.equal(vover.parameters?.errnoName, 'ENOBUFS')

    // It sees its own machine's root, and may act on it: signal it, end it. Sessions, copies and
    // bind mounts stay root's (its leader runs in the host's namespaces: a session "as root" there would be root on the host).
    assert.equal((await busctl(sb, ['get-property', DEST, machineObjectPath(mine[0]!), MACHINE_IFACE, 'RootDirectory'], NOBODY)).reply, 's "/srv/mine"')
    for (const [member, signature, ...args] of [
      ['OpenMachinePTY', 's', mine[0]!], ['OpenMachineLogin', 's', mine[0]!], ['OpenMachineShell', 'sssasas', mine[0]!, 'root', '/bin/sh', '0', '0'],
      ['CopyToMachine', 'sss', mine[0]!, '/etc/hostname', '/tmp/rl-copy'], ['BindMountMachine', 'sssbb', mine[0]!, '/tmp', '/mnt', 'false', 'true'],
    ] as const) {
      const r = await busctl(sb, ['call', DEST, MANAGER_PATH, MANAGER_IFACE, member, signature, ...args], NOBODY)
      assert.equal(r.errorName, ACCESS_DENIED, `${member}: ${r.stderr}`)
    }
    const vopen = (await runVarlink(sb, [{ method: 'io.systemd.Machine.Open', parameters: { name: mine[1]!, mode: 'shell', user: 'root' } }], NOBODY))[0]!
    assert.equal(vopen.error, PERMISSION_DENIED)
    assert.equal((await busctl(sb, ['call', DEST, MANAGER_PATH, MANAGER_IFACE, 'KillMachine', 'ssi', mine[0]!, 'leader', '18'], NOBODY)).ok, true)
    assert.equal((await busctl(sb, ['call', DEST, MANAGER_PATH, MANAGER_IFACE, 'UnregisterMachine', 's', mine[0]!], NOBODY)).ok, true)
    assert.deepEqual((await runVarlink(sb, [{ method: 'io.systemd.Machine.Terminate', parameters: { name: mine[1]! } }], NOBODY))[0], { parameters: {} })
    // Root's machines are still exactly as they were.
    const left = await bus.call(DEST, MANAGER_PATH, MANAGER_IFACE, 'ListMachines', '', []) as [[string][]]
    assert.deepEqual(left[0].map((r) => r[0]).filter((n) => n !== mine[1]).sort(), ['.host', rootDbus, rootVarlink].sort())
    figures.push(`reliability denial: with --allow-user-registration nobody denied ${denied} calls on root's machines, registered 2 of its own, 3rd refused (LimitsExceeded / ENOBUFS)`)
    t.diagnostic(figures.at(-1)!)
  })
})

describe('which layer says no with systemd\'s packaged bus policy', () => {
  let sb: Sandbox
  before(async () => { sb = await Sandbox.start() })
  after(async () => { await sb?.stop() })

  it('dbus-daemon refuses what the policy does not list; the daemon refuses the rest', async (t) => {
    const leader = await sb.spawnLeader()
    const name = sb.name('rl-policy')
    assert.equal((await createMachine(sb, { name, leader: leader.pid! })).ok, true)
    const byBus = await busctl(sb, ['call', DEST, MANAGER_PATH, MANAGER_IFACE, 'CreateMachine', 'sayssusa(sv)', sb.name('rl-x'), '0', 's', 'container', String(leader.pid!), '', '0'], NOBODY)
    assert.equal(byBus.errorName, ACCESS_DENIED)
    assert.match(byBus.errorMessage ?? '', BUS_POLICY_DENIAL)
    // TerminateMachine is on the policy's list for everyone: our check answers, with polkit's wording.
    const byDaemon = await busctl(sb, ['call', DEST, MANAGER_PATH, MANAGER_IFACE, 'TerminateMachine', 's', name], NOBODY)
    assert.equal(byDaemon.errorName, ACCESS_DENIED)
    assert.equal(byDaemon.errorMessage, 'Permission denied')
    assert.equal(leader.exitCode, null)
    t.diagnostic('reliability denial: packaged policy: CreateMachine refused by dbus-daemon, TerminateMachine by machined-ts')
  })
})
