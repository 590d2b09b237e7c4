// The org.freedesktop.machine1 surface as real busctl sees it: complete
// introspection identical to systemd-machined 252's, every Manager method,
// and systemd's exact error names and messages for bad input — with a
// failed call leaving no machine, state file or cgroup behind.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { eventually, Sandbox } from '../helpers/sandbox.ts'
import { machineScopeCgroup, pidsMaxFile, trackingCgroupsOf } from '../helpers/cgroups.ts'
import { busctl, callManager, createMachine, DEST, idArgs, listMachineNames, MANAGER_PATH, registerMachine } from '../helpers/busctl.ts'

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/machined-252/${name}`, import.meta.url), 'utf8')

/** Our Manager adds CreateMachineEx and RegisterMachineEx (newer systemd); nothing else differs. */
function withoutExMethods(xml: string): string {
  return xml.replace(/ {2}<method name="(CreateMachineEx|RegisterMachineEx)">\n(?: {3}.*\n)*? {2}<\/method>\n/g, '')
}

describe('D-Bus API through real busctl', () => {
  let sb: Sandbox
  before(async () => { sb = await Sandbox.start() })
  after(async () => { await sb?.stop() })

  it('introspects the Manager exactly as systemd-machined 252 does (plus the two Ex methods)', async () => {
    const r = await busctl(sb, ['introspect', '--xml-interface', DEST, MANAGER_PATH])
    assert.equal(r.ok, true, r.stderr)
    assert.match(r.reply, /<method name="CreateMachineEx">/)
    assert.match(r.reply, /<method name="RegisterMachineEx">/)
    // busctl prints the XML (which ends in a newline) and one more newline, as in the capture.
    assert.equal(withoutExMethods(`${r.reply}\n\n`), fixture('introspect-manager.xml'))
  })

  it('introspects a Machine object exactly as systemd-machined 252 does', async () => {
    const leader = await sb.spawnLeader()
    const name = sb.name('intro')
    assert.equal((await registerMachine(sb, { name, leader: leader.pid! })).ok, true)
    const r = await busctl(sb, ['introspect', '--xml-interface', DEST, `/org/freedesktop/machine1/machine/${name.replace(/-/g, '_2d')}`])
    assert.equal(`${r.reply}\n\n`, fixture('introspect-machine.xml'))
    const parent = await busctl(sb, ['introspect', '--xml-interface', DEST, '/org/freedesktop/machine1/machine'])
    assert.match(parent.reply, / <node name="_2ehost"\/>/)
    assert.match(parent.reply, new RegExp(` <node name="${name.replace(/-/g, '_2d')}"/>`))
    await callManager(sb, 'UnregisterMachine', 's', name)
  })

  it('lists .host and answers Manager properties like a host without a btrfs pool', async () => {
    assert.ok((await listMachineNames(sb)).includes('.host'))
    const pool = await busctl(sb, ['get-property', DEST, MANAGER_PATH, 'org.freedesktop.machine1.Manager', 'PoolPath', 'PoolUsage', 'PoolLimit'])
    assert.equal(pool.reply, 's "/var/lib/machines"\nt 18446744073709551615\nt 18446744073709551615')
    const host = await busctl(sb, ['get-property', DEST, '/org/freedesktop/machine1/machine/_2ehost', 'org.freedesktop.machine1.Machine', 'Class', 'Leader', 'Unit', 'RootDirectory'])
    assert.equal(host.reply, 's "host"\nu 1\ns "-.slice"\ns "/"')
  })

  it('RegisterMachine, GetMachine, GetMachineByPID, properties, UnregisterMachine', async () => {
    const leader = await sb.spawnLeader()
    const name = sb.name('reg')
    const id = '112233445566778899aabbccddeeff01'
    const reg = await registerMachine(sb, { name, leader: leader.pid!, id, service: 'golden-svc', root: '/srv/golden' })
    assert.equal(reg.ok, true, reg.stderr)
    const path = `/org/freedesktop/machine1/machine/${name.replace(/-/g, '_2d')}`
    assert.equal(reg.reply, `o "${path}"`)
    assert.equal((await callManager(sb, 'GetMachine', 's', name)).reply, `o "${path}"`)
    assert.equal((await callManager(sb, 'GetMachineByPID', 'u', leader.pid!)).reply, `o "${path}"`)
    const props = await busctl(sb, ['get-property', DEST, path, 'org.freedesktop.machine1.Machine', 'Name', 'Id', 'Service', 'Class', 'Leader', 'RootDirectory', 'State', 'Unit'])
    assert.equal(props.reply, [
      `s "${name}"`, `ay 16 ${(id.match(/../g) ?? []).map((b) => parseInt(b, 16)).join(' ')}`, 's "golden-svc"', 's "container"',
      `u ${leader.pid}`, 's "/srv/golden"', 's "running"', `s "machine-${name.replace(/-/g, '\\\\x2d')}.scope"`,
    ].join('\n'))
    const state = sb.execSync(['cat', `/run/systemd/machines/${name}`]).stdout
    assert.match(state, new RegExp(`^# This is private data. Do not parse.\nNAME=${name}\nSCOPE=machine-${name.replace(/-/g, '\\\\\\\\x2d')}.scope\nSERVICE=golden-svc\nROOT=/srv/golden\nID=${id}\nLEADER=${leader.pid}\nCLASS=container\nREALTIME=\\d+\nMONOTONIC=\\d+\n`))
    assert.equal((await callManager(sb, 'UnregisterMachine', 's', name)).ok, true)
    assert.equal((await listMachineNames(sb)).includes(name), false)
    assert.equal(sb.execSync(['test', '-e', `/run/systemd/machines/${name}`]).code, 1)
    // Unregistering forgets the machine; its processes keep running.
    assert.equal(leader.exitCode, null)
  })

  it('RegisterMachineWithNetwork records the interfaces', async () => {
    const leader = await sb.spawnLeader()
    const name = sb.name('net')
    const r = await callManager(sb, 'RegisterMachineWithNetwork', 'sayssusai', name, '0', 'svc', 'vm', leader.pid!, '', 2, 1, 3)
    assert.equal(r.ok, true, r.stderr)
    const p = await busctl(sb, ['get-property', DEST, `/org/freedesktop/machine1/machine/${name.replace(/-/g, '_2d')}`, 'org.freedesktop.machine1.Machine', 'NetworkInterfaces', 'Class'])
    assert.equal(p.reply, 'ai 2 1 3\ns "vm"')
    assert.match(sb.execSync(['cat', `/run/systemd/machines/${name}`]).stdout, /\nNETIF=1 3\n/)
    await callManager(sb, 'UnregisterMachine', 's', name)
  })

  it('CreateMachine puts the leader into machine.slice/machine-NAME.scope with the scope properties', async () => {
    const leader = await sb.spawnLeader()
    const name = sb.name('create')
    const r = await createMachine(sb, { name, leader: leader.pid!, properties: ['1', 'TasksMax', 't', '77'] })
    assert.equal(r.ok, true, r.stderr)
    const layout = sb.cgroupLayout
    const scope = machineScopeCgroup(name)
    // In every hierarchy the sandbox tracks processes in (cgroup2, and name=systemd on a hybrid layout).
    assert.deepEqual(trackingCgroupsOf(layout, readFileSync(`/proc/${leader.pid}/cgroup`, 'utf8')), sb.scopeDirs(name).map(() => scope))
    // This host's layout has a pids controller (the layout matrix covers views without one).
    const pidsMax = pidsMaxFile(layout, scope, sb.hostPath(''))
    assert.ok(pidsMax !== undefined, 'no pids controller in this layout')
    assert.equal(readFileSync(pidsMax, 'utf8'), '77\n')
    const bad = await createMachine(sb, { name: sb.name('badprop'), leader: leader.pid!, properties: ['1', 'Frobnicate', 's', 'x'] })
    assert.equal(bad.errorName, 'org.freedesktop.DBus.Error.InvalidArgs')
    assert.equal(bad.errorMessage, 'Cannot set property Frobnicate, or unknown property.')
    // TerminateMachine stops every process and removes the scope.
    assert.equal((await callManager(sb, 'TerminateMachine', 's', name)).ok, true)
    await eventually(() => leader.exitCode !== null || leader.signalCode !== null, 5000, 'leader to die')
    await eventually(() => !sb.scopeDirs(name).some((d) => existsSync(d)), 5000, 'scope removal')
    await eventually(async () => !(await listMachineNames(sb)).includes(name), 5000, 'machine removal')
  })

  it('CreateMachineWithNetwork, CreateMachineEx and RegisterMachineEx work', async () => {
    const l1 = await sb.spawnLeader()
    const n1 = sb.name('cwn')
    assert.equal((await callManager(sb, 'CreateMachineWithNetwork', 'sayssusaia(sv)', n1, '0', 'svc', 'container', l1.pid!, '', 0, 0)).ok, true)
    const l2 = await sb.spawnLeader()
    const n2 = sb.name('cex')
    const ex = await callManager(sb, 'CreateMachineEx', 'sa(sv)a(sv)', n2, 3, 'Class', 's', 'container', 'LeaderPID', 'u', l2.pid!, 'Service', 's', 'ex-svc', 0)
    assert.equal(ex.ok, true, ex.stderr)
    const l3 = await sb.spawnLeader()
    const n3 = sb.name('rex')
    const rex = await callManager(sb, 'RegisterMachineEx', 'sa(sv)', n3, 2, 'Class', 's', 'vm', 'LeaderPID', 'u', l3.pid!)
    assert.equal(rex.ok, true, rex.stderr)
    const unknown = await callManager(sb, 'RegisterMachineEx', 'sa(sv)', sb.name('rexbad'), 1, 'Bogus', 's', 'x')
    assert.equal(unknown.errorName, 'org.freedesktop.DBus.Error.InvalidArgs')
    for (const n of [n1, n2, n3]) assert.equal((await callManager(sb, 'UnregisterMachine', 's', n)).ok, true)
  })

  it('KillMachine signals the leader or every process; GetMachineAddresses/OSRelease/UIDShift answer as systemd', async () => {
    // The child is forked once the leader sits in its scope, so "all" reaches it (and nothing is left behind).
    const { leader, release } = await sb.spawnGatedLeader('sleep 1000 & wait')
    const name = sb.name('kill')
    assert.equal((await createMachine(sb, { name, leader: leader.pid! })).ok, true)
    release()
    await eventually(async () => (await sb.exec(['pgrep', '-P', String(leader.pid), '-f', '^sleep 1000$'])).code === 0, 5000, 'the child')
    assert.equal((await callManager(sb, 'GetMachineUIDShift', 's', name)).reply, 'u 0')
    const os = await callManager(sb, 'GetMachineOSRelease', 's', name)
    assert.match(os.reply, /"ID" "debian"/)
    const addr = await callManager(sb, 'GetMachineAddresses', 's', name)
    assert.equal(addr.errorName, 'org.freedesktop.machine1.NoPrivateNetworking')
    assert.equal(addr.errorMessage, `Machine ${name} does not use private networking`)
    assert.equal((await callManager(sb, 'KillMachine', 'ssi', name, 'all', 9)).ok, true)
    await eventually(() => leader.signalCode === 'SIGKILL', 5000, 'SIGKILL to reach the leader')
    await eventually(async () => !(await listMachineNames(sb)).includes(name), 5000, 'machine removal after its processes died')
  })

  it('GetMachineAddresses lists the addresses of a machine with its own network namespace', async () => {
    const leader = await sb.spawnLeader(['unshare', '-n', 'sh', '-c', 'ip link set lo up && ip addr add 192.0.2.7/32 dev lo && exec sleep 1000'])
    const name = sb.name('netns')
    await eventually(async () => (await sb.exec(['sh', '-c', `pgrep -P ${leader.pid} >/dev/null || readlink /proc/${leader.pid}/exe | grep -q sleep`])).code === 0, 5000, 'leader netns')
    assert.equal((await registerMachine(sb, { name, leader: leader.pid! })).ok, true)
    const r = await callManager(sb, 'GetMachineAddresses', 's', name)
    assert.equal(r.reply, 'a(iay) 1 2 4 192 0 2 7')
    await callManager(sb, 'UnregisterMachine', 's', name)
  })

  it('the other Manager methods answer as systemd does, with an empty image pool', async () => {
    const leader = await sb.spawnLeader()
    const name = sb.name('map')
    assert.equal((await registerMachine(sb, { name, leader: leader.pid! })).ok, true)
    // No user namespace: ids map to themselves, and host ids belong to no machine.
    assert.equal((await callManager(sb, 'MapFromMachineUser', 'su', name, 1000)).reply, 'u 1000')
    assert.equal((await callManager(sb, 'MapFromMachineGroup', 'su', name, 0)).reply, 'u 0')
    const to = await callManager(sb, 'MapToMachineUser', 'u', 1000)
    assert.deepEqual([to.errorName, to.errorMessage], ['org.freedesktop.machine1.NoSuchUserMapping', 'User 1000 belongs to host UID range'])
    const toBig = await callManager(sb, 'MapToMachineGroup', 'u', 200000)
    assert.deepEqual([toBig.errorName, toBig.errorMessage], ['org.freedesktop.machine1.NoSuchGroupMapping', 'No matching group mapping for 200000.'])
    // Only the host's own root, which systemd always lists.
    assert.match((await callManager(sb, 'ListImages')).reply, /^a\(ssbttto\) 1 "\.host" "directory" (true|false) \d+ 0 18446744073709551615 "\/org\/freedesktop\/machine1\/image\/_2ehost"$/)
    const image = await callManager(sb, 'GetImage', 's', 'nosuch')
    assert.deepEqual([image.errorName, image.errorMessage], ['org.freedesktop.machine1.NoSuchImage', "No image 'nosuch' known"])
    const pool = await callManager(sb, 'SetPoolLimit', 't', 1000)
    assert.deepEqual([pool.errorName, pool.errorMessage], ['org.freedesktop.DBus.Error.NotSupported', 'Quota is only supported on btrfs.'])
    const clean = await callManager(sb, 'CleanPool', 's', 'bogus')
    assert.deepEqual([clean.errorName, clean.errorMessage], ['org.freedesktop.DBus.Error.InvalidArgs', "Unknown mode 'bogus'."])
    assert.equal((await callManager(sb, 'CleanPool', 's', 'all')).reply, 'a(st) 0')
    // A pty allocated in the leader's mount namespace (here the sandbox's): its master and path.
    const pty = await callManager(sb, 'OpenMachinePTY', 's', name)
    assert.match(pty.reply, /^hs \d+ "\/dev\/pts\/\d+"$/, pty.stderr)
    await callManager(sb, 'UnregisterMachine', 's', name)
  })

  describe('bad input gets systemd\'s error name and message, and leaves nothing behind', () => {
    let leader: number
    before(async () => { leader = (await sb.spawnLeader()).pid! })

    const cases: [string, () => string[], string, string][] = [
      ['a_b', () => ['a_b', ...idArgs(''), 'svc', 'container', String(leader), ''], 'org.freedesktop.DBus.Error.InvalidArgs', 'Invalid machine name'],
      ['.host', () => ['.host', ...idArgs(''), 'svc', 'container', String(leader), ''], 'org.freedesktop.DBus.Error.InvalidArgs', 'Invalid machine name'],
      ['65 characters', () => ['a'.repeat(65), ...idArgs(''), 'svc', 'container', String(leader), ''], 'org.freedesktop.DBus.Error.InvalidArgs', 'Invalid machine name'],
      ['15-byte id', () => ['id15x', '15', ...Array<string>(15).fill('1'), 'svc', 'container', String(leader), ''], 'org.freedesktop.DBus.Error.InvalidArgs', 'Invalid machine ID parameter'],
      ['class toaster', () => ['toaster', ...idArgs(''), 'svc', 'toaster', String(leader), ''], 'org.freedesktop.DBus.Error.InvalidArgs', 'Invalid machine class parameter'],
      ['empty class', () => ['noclass', ...idArgs(''), 'svc', '', String(leader), ''], 'org.freedesktop.DBus.Error.NotSupported', 'Operation not supported'],
      ['relative root', () => ['relroot', ...idArgs(''), 'svc', 'container', String(leader), 'srv/x'], 'org.freedesktop.DBus.Error.InvalidArgs', 'Root directory must be empty or an absolute path'],
      ['leader 1', () => ['lone', ...idArgs(''), 'svc', 'container', '1', ''], 'org.freedesktop.DBus.Error.InvalidArgs', 'Invalid leader PID'],
      ['leader 999999999', () => ['lnone', ...idArgs(''), 'svc', 'container', '999999999', ''], 'org.freedesktop.DBus.Error.UnixProcessIdUnknown', 'Failed to determine unit of process 999999999 : No such process'],
    ]
    for (const [what, args, errorName, errorMessage] of cases) {
      it(`RegisterMachine with ${what}`, async () => {
        const before = sb.execSync(['ls', '-A', '/run/systemd/machines']).stdout
        const machinesBefore = await listMachineNames(sb)
        const r = await callManager(sb, 'RegisterMachine', 'sayssus', ...args())
        assert.equal(r.errorName, errorName)
        assert.equal(r.errorMessage, errorMessage)
        assert.deepEqual(await listMachineNames(sb), machinesBefore)
        assert.equal(sb.execSync(['ls', '-A', '/run/systemd/machines']).stdout, before)
        assert.equal(readFileSync(`/proc/${leader}/cgroup`, 'utf8').includes('machine.slice'), false)
      })
    }

    it('a taken name → MachineExists', async () => {
      const name = sb.name('taken')
      assert.equal((await registerMachine(sb, { name, leader })).ok, true)
      const other = await sb.spawnLeader()
      const r = await registerMachine(sb, { name, leader: other.pid! })
      assert.equal(r.errorName, 'org.freedesktop.machine1.MachineExists')
      assert.equal(r.errorMessage, `Machine '${name}' already exists`)
      assert.equal((await callManager(sb, 'UnregisterMachine', 's', name)).ok, true)
    })

    it('unknown names and PIDs, bad kill arguments, wrong signatures, unknown methods', async () => {
      const nosuch = await callManager(sb, 'GetMachine', 's', 'nosuch')
      assert.deepEqual([nosuch.errorName, nosuch.errorMessage], ['org.freedesktop.machine1.NoSuchMachine', "No machine 'nosuch' known"])
      const nopid = await callManager(sb, 'GetMachineByPID', 'u', 1)
      assert.deepEqual([nopid.errorName, nopid.errorMessage], ['org.freedesktop.machine1.NoMachineForPID', 'PID 1 does not belong to any known machine'])
      const name = sb.name('killargs')
      assert.equal((await registerMachine(sb, { name, leader })).ok, true)
      const whom = await callManager(sb, 'KillMachine', 'ssi', name, 'bogus', 15)
      assert.deepEqual([whom.errorName, whom.errorMessage], ['org.freedesktop.DBus.Error.InvalidArgs', "Invalid kill parameter 'bogus'"])
      const sig = await callManager(sb, 'KillMachine', 'ssi', name, 'leader', 999)
      assert.deepEqual([sig.errorName, sig.errorMessage], ['org.freedesktop.DBus.Error.InvalidArgs', 'Invalid signal 999'])
      const wrong = await callManager(sb, 'GetMachine', 'u', 5)
      assert.deepEqual([wrong.errorName, wrong.errorMessage], ['org.freedesktop.DBus.Error.InvalidArgs', "Invalid arguments 'u' to call org.freedesktop.machine1.Manager.GetMachine(), expecting 's'."])
      const unknown = await callManager(sb, 'Nope')
      assert.deepEqual([unknown.errorName, unknown.errorMessage], ['org.freedesktop.DBus.Error.UnknownMethod', 'Unknown method Nope or interface org.freedesktop.machine1.Manager.'])
      const obj = await busctl(sb, ['introspect', DEST, '/org/freedesktop/machine1/machine/nosuch'])
      assert.equal(obj.errorName, 'org.freedesktop.DBus.Error.UnknownObject')
      assert.equal((await callManager(sb, 'UnregisterMachine', 's', name)).ok, true)
    })
  })
})
