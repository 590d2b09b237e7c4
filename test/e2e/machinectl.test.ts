// Real machinectl 252 against our daemon prints what it prints against
// systemd-machined (test/fixtures/machined-252/machinectl-*.txt), and its verbs that
// change things (terminate, kill, poweroff) reach the machine's processes.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { eventually, Sandbox } from '../helpers/sandbox.ts'
import { callManager, idArgs, listMachineNames } from '../helpers/busctl.ts'

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/machined-252/${name}`, import.meta.url), 'utf8')

/** The golden machine: RegisterMachineWithNetwork("golden", 11…ff01, "golden-svc", "container", L, "/srv/golden", []). */
async function registerGolden(sb: Sandbox, leader: number): Promise<void> {
  const r = await callManager(sb, 'RegisterMachineWithNetwork', 'sayssusai', 'golden', ...idArgs('112233445566778899aabbccddeeff01'), 'golden-svc', 'container', leader, '/srv/golden', 0)
  assert.equal(r.ok, true, r.stderr)
}

describe('real machinectl against machined-ts', () => {
  let sb: Sandbox
  before(async () => { sb = await Sandbox.start() })
  after(async () => { await sb?.stop() })

  describe('with the golden machine registered', () => {
    let leader: number
    before(async () => {
      leader = (await sb.spawnLeader()).pid!
      sb.track('golden')
      await registerGolden(sb, leader)
    })
    after(async () => { await callManager(sb, 'UnregisterMachine', 's', 'golden') })

    it('list prints exactly what it prints for systemd-machined', async () => {
      const r = await sb.exec(['machinectl', 'list'])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout, fixture('machinectl-list.txt'))
    })

    it('list --output=json prints exactly the same JSON', async () => {
      const r = await sb.exec(['machinectl', 'list', '--output=json'])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(`${r.stdout.trimEnd()}\n`, fixture('machinectl-list-json.txt'))
    })

    it('show prints the same properties (timestamps and PIDs differ by nature)', async () => {
      const r = await sb.exec(['machinectl', 'show', 'golden'])
      assert.equal(r.code, 0, r.stderr)
      const normalise = (s: string): string => s
        .replace(/^Timestamp=.*$/m, 'Timestamp=T').replace(/^TimestampMonotonic=\d+$/m, 'TimestampMonotonic=M').replace(/^Leader=\d+$/m, 'Leader=L')
      assert.equal(normalise(r.stdout), normalise(fixture('machinectl-show.txt')))
      assert.match(r.stdout, new RegExp(`^Leader=${leader}$`, 'm'))
    })

    it('status prints the same lines, and only the systemd1 lookup fails softly', async () => {
      const r = await sb.exec(['machinectl', 'status', 'golden'])
      assert.equal(r.code, 0, r.stderr)
      const [stderrLine, ...golden] = fixture('machinectl-status.txt').split('\n')
      assert.match(r.stderr, /^Failed to query unit control group path: /)
      assert.match(stderrLine!, /^Failed to query unit control group path: /)
      const normalise = (s: string): string => s.replace(/Since: .*$/m, 'Since: S').replace(/Leader: \d+ /, 'Leader: L ')
      assert.equal(normalise(r.stdout.trimEnd()), normalise(golden.join('\n').trimEnd()))
    })

    it('fails like machinectl does for an unknown machine', async () => {
      const r = await sb.exec(['machinectl', 'status', 'nosuch'])
      assert.equal(r.code, 1)
      assert.equal(r.stderr.trim(), "Could not get path to machine: No machine 'nosuch' known")
    })
  })

  it('terminate stops every process of the machine and it goes away', async () => {
    const { leader, release } = await sb.spawnGatedLeader('sleep 1000 & wait')
    const name = sb.name('term')
    assert.equal((await callManager(sb, 'CreateMachine', 'sayssusa(sv)', name, '0', 'svc', 'container', leader.pid!, '', 0)).ok, true)
    release()
    const r = await sb.exec(['machinectl', 'terminate', name])
    assert.equal(r.code, 0, r.stderr)
    await eventually(() => leader.exitCode !== null || leader.signalCode !== null, 5000, 'the leader to stop')
    await eventually(async () => !(await listMachineNames(sb)).includes(name), 5000, 'the machine to go')
  })

  it('kill sends the signal to all processes, or only the leader with --kill-whom=leader', async () => {
    const { leader, release } = await sb.spawnGatedLeader('sleep 1000 & wait')
    const name = sb.name('kill')
    assert.equal((await callManager(sb, 'CreateMachine', 'sayssusa(sv)', name, '0', 'svc', 'container', leader.pid!, '', 0)).ok, true)
    release()
    const child = Number(await eventually(async () => (await sb.exec(['pgrep', '-P', String(leader.pid), '-f', '^sleep 1000$'])).stdout.trim() || undefined, 5000, 'the child'))
    const k = await sb.exec(['machinectl', 'kill', '--kill-whom=leader', '--signal=SIGUSR1', name])
    assert.equal(k.code, 0, k.stderr)
    await eventually(() => leader.signalCode === 'SIGUSR1', 5000, 'SIGUSR1 to reach the leader')
    // The leader is gone; the child still runs in the machine's scope until everyone is killed.
    assert.equal((await sb.exec(['kill', '-0', String(child)])).code, 0)
    assert.equal((await sb.exec(['machinectl', 'kill', '--signal=SIGKILL', name])).code, 0)
    await eventually(async () => (await sb.exec(['kill', '-0', String(child)])).code !== 0, 5000, 'the child to die')
    await eventually(async () => !(await listMachineNames(sb)).includes(name), 5000, 'the machine to go')
  })

  it('poweroff sends SIGRTMIN+4 to the leader, as a container PID 1 expects', async () => {
    const mark = `/tmp/machined-ts-poweroff-${process.pid}`
    const leader = await sb.spawnLeader(['bash', '-c', `trap 'echo poweroff > ${mark}; exit 0' RTMIN+4; while :; do sleep 0.1; done`])
    const name = sb.name('poff')
    assert.equal((await callManager(sb, 'RegisterMachine', 'sayssus', name, '0', 'svc', 'container', leader.pid!, '')).ok, true)
    assert.equal((await sb.exec(['machinectl', 'poweroff', name])).code, 0)
    await eventually(() => leader.exitCode === 0, 5000, 'the leader to power off')
    assert.equal(readFileSync(mark, 'utf8'), 'poweroff\n')
    await eventually(async () => !(await listMachineNames(sb)).includes(name), 5000, 'the machine to go')
  })
})
