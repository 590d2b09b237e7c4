// io.systemd.Machine on /run/systemd/machine/io.systemd.Machine, driven by
// a Python-stdlib client (test/helpers/varlink-client.py), not ours: every
// method and every error systemd's Varlink binding answers, what the wire
// protocol does with bad input (bad JSON, half a message, huge messages,
// unknown methods, wrong types), hundreds of connections at once, and the
// daemon staying up with its machines through all of it. Machines are the
// same over both transports: registered over Varlink they show in real
// machinectl and busctl, registered with busctl they show in Varlink List.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { eventually, Sandbox } from '../helpers/sandbox.ts'
import { busctl, callManager, DEST, listMachineNames, registerMachine } from '../helpers/busctl.ts'
import { call, call1, calls, concurrent, listNames, pipeline, raw, SOCKET, type Reply } from '../helpers/varlink-py.ts'

const M = 'io.systemd.Machine'
const bad = (parameter: string): Reply => ({ error: 'org.varlink.service.InvalidParameter', parameters: { parameter } })
const err = (name: string): Reply => ({ error: `${M}.${name}`, parameters: {} })
const OK: Reply = { parameters: {} }
const label = (name: string): string => name.replace(/-/g, '_2d')

describe('Varlink io.systemd.Machine through a Python client', () => {
  let sb: Sandbox
  let leader: number
  let vname: string
  before(async () => {
    sb = await Sandbox.start()
    leader = (await sb.spawnLeader()).pid!
    vname = sb.name('vl')
  })
  after(async () => { await sb?.stop() })

  it('listens on the default socket, mode 0666, and describes itself', async () => {
    assert.equal(sb.execSync(['stat', '-c', '%a %F', SOCKET]).stdout.trim(), '666 socket')
    const info = await call1(sb, 'org.varlink.service.GetInfo')
    // As newest systemd-machined: io.systemd.MachineImage on the Machine socket too; and our io.machinedts.Machines.
    assert.deepEqual(info.parameters?.interfaces, ['io.machinedts.Machines', 'io.systemd.Machine', 'io.systemd.MachineImage', 'org.varlink.service'])
    assert.equal(info.parameters?.product, 'machined-ts')
    const idl = (await call1(sb, 'org.varlink.service.GetInterfaceDescription', { interface: M })).parameters?.description as string
    assert.match(idl, /^interface io\.systemd\.Machine\n/)
    for (const m of ['Register', 'Unregister', 'Terminate', 'Kill', 'List', 'Open', 'MapFrom', 'MapTo', 'BindMount', 'CopyFrom', 'CopyTo', 'OpenRootDirectory']) {
      assert.match(idl, new RegExp(`\\nmethod ${m}\\(`), m)
    }
    assert.match(idl, /\n\t# Numeric UNIX signal integer\.\n\tsignal: int\n/)
    assert.deepEqual(await call1(sb, 'org.varlink.service.GetInterfaceDescription', { interface: 'io.systemd.Nope' }),
      { error: 'org.varlink.service.InterfaceNotFound', parameters: { interface: 'io.systemd.Nope' } })
  })

  it('a machine registered over Varlink shows in List, machinectl and busctl', async () => {
    const id = '0123456789abcdef0123456789abcdef'
    assert.deepEqual(await call1(sb, `${M}.Register`, {
      name: vname, id, service: 'vl-svc', class: 'container', leader, rootDirectory: '/srv/vl', ifIndices: [1], allocateUnit: true,
    }), OK)
    const [listed] = await call(sb, `${M}.List`, { name: vname })
    assert.equal(listed?.parameters?.id, id)
    assert.equal(listed?.parameters?.service, 'vl-svc')
    assert.equal(listed?.parameters?.rootDirectory, '/srv/vl')
    assert.equal(listed?.parameters?.unit, `machine-${vname.replace(/-/g, '\\x2d')}.scope`)
    assert.equal((listed?.parameters?.leader as { pid: number }).pid, leader)
    assert.match(String((listed?.parameters?.leader as { bootId?: string }).bootId), /^[0-9a-f]{32}$/)
    const mc = await sb.exec(['machinectl', 'list', '--no-legend'])
    assert.equal(mc.code, 0, mc.stderr)
    assert.match(mc.stdout, new RegExp(`^${vname} +container +vl-svc `, 'm'))
    assert.ok((await listMachineNames(sb)).includes(vname))
    const props = await busctl(sb, ['get-property', DEST, `/org/freedesktop/machine1/machine/${label(vname)}`, 'org.freedesktop.machine1.Machine', 'Service', 'Class', 'Leader', 'RootDirectory', 'NetworkInterfaces'])
    assert.equal(props.reply, `s "vl-svc"\ns "container"\nu ${leader}\ns "/srv/vl"\nai 1 1`)
  })

  it('a machine registered with busctl shows in Varlink List', async () => {
    const dleader = (await sb.spawnLeader()).pid!
    const dname = sb.name('db')
    assert.equal((await registerMachine(sb, { name: dname, leader: dleader, service: 'db-svc', cls: 'vm' })).ok, true)
    const names = await listNames(sb)
    assert.equal(names[0], '.host')
    assert.ok(names.includes(dname) && names.includes(vname), names.join(' '))
    const [m] = await call(sb, `${M}.List`, { pid: { pid: dleader } })
    assert.deepEqual([m?.parameters?.name, m?.parameters?.class, m?.parameters?.service], [dname, 'vm', 'db-svc'])
    assert.deepEqual(await call1(sb, `${M}.Unregister`, { name: dname }), OK)
    assert.equal((await callManager(sb, 'GetMachine', 's', dname)).errorName, 'org.freedesktop.machine1.NoSuchMachine')
  })

  it('takes the caller (SO_PEERCRED) as leader when none is given', async () => {
    const name = sb.name('self')
    const r = await calls(sb, [
      { method: `${M}.Register`, parameters: { name, class: 'container' } },
      { method: `${M}.List`, parameters: { name } },
      { method: `${M}.Unregister`, parameters: { name } },
    ])
    assert.deepEqual(r.results[0], [OK])
    assert.equal((r.results[1]![0]!.parameters?.leader as { pid: number }).pid, r.pid)
    assert.deepEqual(r.results[2], [OK])
  })

  it('answers every error with systemd\'s name', async () => {
    const expect: [string, Record<string, unknown>, Reply][] = [
      ['Register', { name: vname, class: 'container', leader }, err('MachineExists')],
      ['Register', { name: 'no_underscores', class: 'container', leader }, bad('name')],
      ['Register', { name: 5, class: 'container', leader }, bad('name')],
      ['Register', { name: 'x-e2e', class: 'container', leader, id: 'not-an-id' }, bad('id')],
      ['Register', { name: 'x-e2e', class: 'toaster', leader }, bad('class')],
      ['Register', { name: 'x-e2e', class: 'container', leader: 'abc' }, bad('leader')],
      ['Register', { name: 'x-e2e', class: 'container', leader: 1 }, bad('leader')],
      ['Register', { name: 'x-e2e', class: 'container', leaderProcessId: { pid: leader, bootId: '00112233445566778899aabbccddeeff' } }, bad('leaderProcessId')],
      ['Register', { name: 'x-e2e', class: 'container', leader, ifIndices: 'x' }, bad('ifIndices')],
      ['Register', { name: 'x-e2e', class: 'container', leader, rootDirectory: 'rel' }, bad('rootDirectory')],
      ['Register', { name: 'x-e2e', class: 'container', leader, vSockCid: 1 }, bad('vSockCid')],
      ['Register', { name: 'x-e2e', class: 'container', leader, allocateUnit: 1 }, bad('allocateUnit')],
      ['Register', { name: 'x-e2e', class: 'container', leader, frobnicate: true }, bad('frobnicate')],
      ['Unregister', { name: 'nosuch' }, err('NoSuchMachine')],
      ['Unregister', {}, err('NoSuchMachine')],
      ['Terminate', { name: 'nosuch' }, err('NoSuchMachine')],
      ['Terminate', { name: 'in valid' }, bad('name')],
      ['Kill', { name: 'nosuch', signal: 15 }, err('NoSuchMachine')],
      ['Kill', { name: vname, signal: 99 }, bad('signal')],
      ['Kill', { name: vname, signal: 15, whom: 'everyone' }, bad('whom')],
      ['Kill', { name: vname }, bad('signal')],
      ['List', {}, { error: 'org.varlink.service.ExpectedMore', parameters: {} }],
      ['List', { name: 'nosuch' }, err('NoSuchMachine')],
      ['List', { pid: { pid: 0x7ffffff0 } }, err('NoSuchMachine')],
      ['List', { pid: 'x' }, bad('pid')],
      ['List', { acquireMetadata: 'always' }, bad('acquireMetadata')],
      // Open itself (an fd in the reply) is tested with real guests in shell-login.test.ts.
      ['Open', { name: vname, mode: 'shell', path: 'bin/sh' }, bad('path')],
      ['Open', { name: 'nosuch', mode: 'tty' }, err('NoSuchMachine')],
      ['OpenRootDirectory', { name: 'nosuch' }, err('NoSuchMachine')],
      // This machine's leader has no propagation directory (no container manager made one): EOPNOTSUPP.
      ['BindMount', { name: vname, source: '/tmp' }, err('NotSupported')],
      ['BindMount', { name: vname, source: 'tmp' }, bad('source')],
      ['CopyFrom', { name: 'nosuch', source: '/x' }, err('NoSuchMachine')],
      ['CopyFrom', { name: vname, source: '/no-such-file-here', destination: '/tmp/vl-none' }, { error: 'io.systemd.System', parameters: { origin: 'linux', errno: 2, errnoName: 'ENOENT' } }],
      ['CopyTo', { name: vname, source: 'relative' }, bad('source')],
      ['CopyTo', { name: vname, source: '/x', destination: 'relative' }, bad('destination')],
      ['MapFrom', { name: '.host', uid: 0 }, err('NotSupported')],
      ['MapTo', { uid: 1000 }, err('UserInHostRange')],
      ['MapTo', { gid: 5 }, err('GroupInHostRange')],
      ['MapTo', { uid: 3_000_000 }, err('NoSuchUser')],
      ['Frobnicate', {}, { error: 'org.varlink.service.MethodNotFound', parameters: { method: `${M}.Frobnicate` } }],
    ]
    const r = await calls(sb, expect.map(([method, parameters]) => ({ method: `${M}.${method}`, parameters })))
    expect.forEach(([method, parameters, expected], i) => assert.deepEqual(r.results[i], [expected], `${method} ${JSON.stringify(parameters)}`))
    assert.deepEqual(await call(sb, 'com.example.Nope.Method'), [{ error: 'org.varlink.service.MethodNotFound', parameters: { method: 'com.example.Nope.Method' } }])
    assert.equal(await sb.exec(['test', '-e', '/run/systemd/machines/x-e2e']).then((x) => x.code), 1)
  })

  it('Kill signals the leader; the machine goes once its processes are gone', async () => {
    const kleader = await sb.spawnLeader()
    const name = sb.name('kill')
    assert.deepEqual(await call1(sb, `${M}.Register`, { name, class: 'container', leaderProcessId: { pid: kleader.pid! }, allocateUnit: true }), OK)
    const exited = new Promise((r) => kleader.once('exit', (_c, sig) => r(sig)))
    assert.deepEqual(await call1(sb, `${M}.Kill`, { name, whom: 'leader', signal: 15 }), OK)
    assert.equal(await exited, 'SIGTERM')
    await eventually(async () => (await call1(sb, `${M}.List`, { name })).error === `${M}.NoSuchMachine`, 5000, 'the killed machine to go')
  })

  it('Terminate stops the machine, and D-Bus sees it gone', async () => {
    const tleader = await sb.spawnLeader()
    const name = sb.name('term')
    assert.deepEqual(await call1(sb, `${M}.Register`, { name, class: 'vm', leader: tleader.pid!, allocateUnit: true }), OK)
    const exited = new Promise((r) => tleader.once('exit', (_c, sig) => r(sig)))
    assert.deepEqual(await call1(sb, `${M}.Terminate`, { pid: { pid: tleader.pid! } }), OK)
    assert.equal(await exited, 'SIGTERM')
    await eventually(async () => (await callManager(sb, 'GetMachine', 's', name)).errorName === 'org.freedesktop.machine1.NoSuchMachine', 5000, 'D-Bus to see it gone')
  })

  it('a oneway Unregister gets no reply but happens', async () => {
    const uleader = (await sb.spawnLeader()).pid!
    const name = sb.name('oneway')
    const r = await calls(sb, [
      { method: `${M}.Register`, parameters: { name, class: 'container', leader: uleader } },
      { method: `${M}.Unregister`, parameters: { name }, oneway: true },
      { method: `${M}.List`, parameters: { name } },
    ])
    assert.deepEqual(r.results, [[OK], [], [err('NoSuchMachine')]])
  })

  it('streams List with continues, and answers pipelined calls in order', async () => {
    const streamed = await call(sb, `${M}.List`, {}, { more: true })
    assert.ok(streamed.length >= 2)
    assert.ok(streamed.slice(0, -1).every((r) => r.continues === true))
    assert.equal(streamed.at(-1)!.continues, undefined)
    const list = Array.from({ length: 50 }, (_, i) => ({ method: `${M}.List`, parameters: { name: i % 2 === 0 ? vname : 'nosuch' } }))
    const { replies } = await pipeline(sb, list)
    assert.equal(replies.length, 50)
    replies.forEach((r, i) => assert.equal(i % 2 === 0 ? r.parameters?.name : r.error, i % 2 === 0 ? vname : `${M}.NoSuchMachine`))
  })

  it('closes on malformed JSON, a message without NUL, a non-object or an unknown message field, without a reply', async () => {
    for (const send of [
      '{"method": "io.systemd.Machine.List", "parameters": {\0',
      '[1, 2, 3]\0',
      '"io.systemd.Machine.List"\0',
      '{"method":"io.systemd.Machine.List","parameters":{"name":".host"},"extra":1}\0',
      '{"method":"io.systemd.Machine.List","parameters":[]}\0',
    ]) {
      // The client keeps its side open: the server must close on its own.
      const r = await raw(sb, [send])
      assert.deepEqual([r.frames, r.eof], [[], true], send)
    }
    const before = await raw(sb, ['{"method":"org.varlink.service.GetInfo"}\0{"meth'], { shutdown: true })
    assert.equal(before.frames.length, 1)
    assert.equal(before.eof, true)
    // Half a message, then the client closes its side: nothing comes back, the connection ends.
    const cut = await raw(sb, ['{"method":"io.systemd.Machine.List","parameters":{"name":".ho'], { shutdown: true })
    assert.deepEqual([cut.frames, cut.eof], [[], true])
  })

  it('takes a message of 64 KiB and more, and cuts off one over 16 MiB with ENOBUFS', async () => {
    const long = 'x'.repeat(70 * 1024)
    assert.deepEqual(await call1(sb, 'org.varlink.service.GetInterfaceDescription', { interface: long }),
      { error: 'org.varlink.service.InterfaceNotFound', parameters: { interface: long } })
    const huge = await raw(sb, ['{"method":"io.systemd.Machine.List","parameters":{"name":"', { repeat: 'x', count: 17 * 1024 * 1024 }, '"}}\0'])
    assert.deepEqual(huge.frames, [{ error: 'io.systemd.System', parameters: { origin: 'linux', errno: 105, errnoName: 'ENOBUFS' } }])
    assert.equal(huge.eof, true)
  })

  it('serves hundreds of connections at once', async () => {
    const r = await concurrent(sb, 400, { method: `${M}.List`, parameters: { name: vname } })
    assert.deepEqual(r.failures, [])
    assert.equal(r.connected, 400)
    const entries = Object.entries(r.replies)
    assert.equal(entries.length, 1, entries.map(([k]) => k).join('\n'))
    assert.equal(entries[0]![1], 400)
    assert.equal((JSON.parse(entries[0]![0]) as Reply).parameters?.name, vname)
  })

  it('is still up, with its machines, after all of that', async () => {
    assert.equal((await call1(sb, 'org.varlink.service.GetInfo')).parameters?.vendor, 'machined-ts')
    assert.ok((await listNames(sb)).includes(vname))
    assert.ok((await listMachineNames(sb)).includes(vname))
    assert.match(sb.daemonLog, /level=warn msg="Varlink message over the size limit, closing the connection"/)
    assert.doesNotMatch(sb.daemonLog, /level=error/)
  })

  it('removes its socket on SIGTERM, keeps machines across a restart, and takes --varlink-socket', async () => {
    assert.equal(await sb.stopDaemon('SIGTERM'), 0)
    assert.equal(sb.execSync(['test', '-e', SOCKET]).code, 1)
    await sb.startDaemon(['--varlink-socket=/run/custom/vl.sock'])
    assert.equal(sb.execSync(['test', '-e', SOCKET]).code, 1)
    assert.deepEqual((await calls(sb, [{ method: `${M}.List`, parameters: { name: vname } }], '/run/custom/vl.sock')).results[0]![0]!.parameters?.name, vname)
    await sb.stopDaemon('SIGTERM')
    await sb.startDaemon(['--varlink-socket='])
    assert.equal(sb.execSync(['sh', '-c', `test -e ${SOCKET} || test -e /run/custom/vl.sock`]).code, 1)
    assert.ok((await listMachineNames(sb)).includes(vname))
    await sb.stopDaemon('SIGTERM')
    // A socket file left behind by a daemon that died is replaced.
    sb.execSync(['python3', '-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(SOCKET)})`])
    assert.equal(sb.execSync(['test', '-S', SOCKET]).code, 0)
    await sb.startDaemon()
    assert.ok((await listNames(sb)).includes(vname))
    assert.deepEqual(await call1(sb, `${M}.Unregister`, { name: vname }), OK)
  })
})
