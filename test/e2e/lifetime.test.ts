// A machine lives as long as its processes: it goes (MachineRemoved, files
// removed) within a second of its leader exiting and its scope emptying;
// the registry survives SIGTERM and kill -9 of the daemon, and a restart
// keeps every machine whose leader lives and drops the rest.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { eventually, Sandbox, sleep } from '../helpers/sandbox.ts'
import { busctl, callManager, listMachineNames, registerMachine } from '../helpers/busctl.ts'

describe('machine lifetime', () => {
  let sb: Sandbox
  before(async () => { sb = await Sandbox.start() })
  after(async () => { await sb?.stop() })

  it('the leader exiting removes the machine within a second, with MachineRemoved', async () => {
    const leader = await sb.spawnLeader()
    const name = sb.name('death')
    const monitor = spawn(sb.nsenter[0]!, [...sb.nsenter.slice(1), 'busctl', 'monitor', '--match', "type='signal',member='MachineRemoved'"], { env: sb.env, stdio: ['ignore', 'pipe', 'ignore'] })
    let seen = ''
    monitor.stdout.on('data', (c: Buffer) => { seen += c.toString() })
    try {
      assert.equal((await registerMachine(sb, { name, leader: leader.pid! })).ok, true)
      await sleep(300) // let the monitor subscribe
      const killedAt = Date.now()
      leader.kill('SIGKILL')
      await eventually(async () => !(await listMachineNames(sb)).includes(name), 1000, 'the machine to go within a second')
      assert.ok(Date.now() - killedAt < 1000)
      await eventually(() => seen.includes(`STRING "${name}";`), 2000, 'MachineRemoved on the bus')
      assert.equal(sb.execSync(['test', '-e', `/run/systemd/machines/${name}`]).code, 1)
    } finally {
      monitor.kill()
    }
  })

  it('a machine stays while its scope still has processes, even after the leader left', async () => {
    const { leader, release } = await sb.spawnGatedLeader('sleep 1000 & sleep 0.3; exit 0')
    const name = sb.name('orphans')
    assert.equal((await callManager(sb, 'CreateMachine', 'sayssusa(sv)', name, '0', 'svc', 'container', leader.pid!, '', 0)).ok, true)
    release()
    await eventually(() => leader.exitCode === 0, 5000, 'the leader to exit')
    await sleep(500)
    assert.ok((await listMachineNames(sb)).includes(name), 'machine kept while its scope is populated')
    assert.equal((await callManager(sb, 'KillMachine', 'ssi', name, 'all', 9)).ok, true)
    await eventually(async () => !(await listMachineNames(sb)).includes(name), 2000, 'the machine to go once the scope is empty')
  })

  it('SIGTERM leaves the registry on disk; kill -9 and a restart keep live machines and drop dead ones', async () => {
    const alive = await sb.spawnLeader()
    const doomed = await sb.spawnLeader()
    const keep = sb.name('keep')
    const lose = sb.name('lose')
    assert.equal((await registerMachine(sb, { name: keep, leader: alive.pid!, id: '00112233445566778899aabbccddeeff', service: 'keep-svc', root: '/srv/keep' })).ok, true)
    assert.equal((await registerMachine(sb, { name: lose, leader: doomed.pid! })).ok, true)
    const before = sb.execSync(['cat', `/run/systemd/machines/${keep}`]).stdout

    assert.equal(await sb.stopDaemon('SIGTERM'), 0)
    assert.equal(sb.execSync(['cat', `/run/systemd/machines/${keep}`]).stdout, before, 'SIGTERM keeps the state files')
    await sb.startDaemon()
    assert.deepEqual((await listMachineNames(sb)).filter((n) => n === keep || n === lose).sort(), [keep, lose].sort())

    await sb.stopDaemon('SIGKILL')
    doomed.kill('SIGKILL')
    await eventually(() => doomed.signalCode !== null, 2000, 'the doomed leader to die')
    await sb.startDaemon()
    const names = await listMachineNames(sb)
    assert.ok(names.includes(keep), 'a machine whose leader lives is kept')
    assert.ok(!names.includes(lose), 'a machine whose leader died is dropped')
    assert.equal(sb.execSync(['test', '-e', `/run/systemd/machines/${lose}`]).code, 1)
    const props = await callManager(sb, 'GetMachine', 's', keep)
    const path = props.reply.replace(/^o "|"$/g, '')
    const p = await busctl(sb, ['get-property', 'org.freedesktop.machine1', path, 'org.freedesktop.machine1.Machine', 'Leader', 'Service', 'RootDirectory', 'Id'])
    assert.equal(p.reply.split('\n').slice(0, 3).join('\n'), `u ${alive.pid}\ns "keep-svc"\ns "/srv/keep"`)
    await eventually(() => !sb.scopeDirs(lose).some((d) => existsSync(d)), 3000, 'the dead machine\'s scope to be removed')
    assert.equal((await callManager(sb, 'UnregisterMachine', 's', keep)).ok, true)
  })
})
