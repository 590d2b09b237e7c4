// PID reuse, forced: the sandbox has a private PID namespace, so a test can
// pick the PID of its next process (/proc/sys/kernel/ns_last_pid), and its
// PID 1 reaps at once, so a dead leader's PID is free again at once. Each
// cycle registers a machine (over D-Bus or Varlink, in turn) whose scope
// holds one more process, so the machine outlives its leader (machined
// keeps a machine while its unit still has processes); kills the leader;
// starts an unrelated process with the very same PID; and asks for the
// machine of that PID over both transports (GetMachineByPID; Varlink List
// by pid) and to signal the machine's leader. The machine must never be
// the answer, and the new process must never be signalled. Then the daemon
// restarts: every machine whose leader's PID now names another process is
// dropped, not adopted, and the lookups still answer no machine.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { machineObjectPath } from '../../src/protocol/bus-path.ts'
import { DBusError, type BusConnection } from '../../src/wire/dbus/bus.ts'
import { MANAGER_IFACE, MANAGER_PATH as MANAGER } from '../helpers/busctl.ts'
import { busOf, DEST, VarlinkCaller } from '../helpers/clients.ts'
import { eventually, Sandbox } from '../helpers/sandbox.ts'

const CYCLES = 16

interface NsProcess {
  readonly child: ChildProcess
  /** Its PID inside the sandbox's PID namespace, where the daemon lives. */
  readonly pid: number
}

describe('PID reuse never brings back a dead leader\'s machine', () => {
  let sb: Sandbox
  let bus: BusConnection
  const children: ChildProcess[] = []

  before(async () => {
    sb = await Sandbox.start({ pidns: true })
    bus = await busOf(sb)
  })
  after(async () => {
    bus?.close()
    for (const c of children) c.kill('SIGKILL')
    await sb?.stop()
  })

  /** A `sleep` in the sandbox's PID namespace, with PID `want` if given (ns_last_pid), reaped by its shell when it dies. */
  async function spawnInNs(want?: number): Promise<NsProcess> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const pick = want === undefined ? '' : `echo ${want - 1} > /proc/sys/kernel/ns_last_pid; `
      const child = spawn(sb.nsenter[0]!, [...sb.nsenter.slice(1), 'sh', '-c', `${pick}sleep 1000 & echo $!; wait`], { stdio: ['ignore', 'pipe', 'inherit'] })
      children.push(child)
      const pid = await new Promise<number>((resolve, reject) => {
        let out = ''
        child.stdout.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('\n')) resolve(Number(out.trim())) })
        child.once('exit', () => reject(new Error('exited before saying its PID')))
      })
      if (want === undefined || pid === want) return { child, pid }
      // Something else in the namespace forked in between: try again.
      sb.execSync(['kill', '-9', String(pid)])
    }
    throw new Error(`could not get PID ${want}`)
  }

  function nsAlive(pid: number): boolean {
    return sb.execSync(['kill', '-0', String(pid)]).code === 0
  }

  async function machineOfPid(pid: number): Promise<{ dbus: string; varlink: string }> {
    let dbus: string
    try {
      const [path] = await bus.call(DEST, MANAGER, MANAGER_IFACE, 'GetMachineByPID', 'u', [pid]) as [string]
      dbus = path
    } catch (err) {
      dbus = err instanceof DBusError ? err.type : String(err)
    }
    const vl = await VarlinkCaller.connect(sb)
    const r = await vl.call('io.systemd.Machine.List', { pid: { pid } })
    vl.close()
    const varlink = r.error === undefined ? String((r.parameters as { name: string }).name) : (r.error as string)
    return { dbus, varlink }
  }

  it(`answers no machine for a recycled PID, ${CYCLES} times over both transports, and after a restart`, async (t) => {
    const started = Date.now()
    const reused: { name: string; pid: number; newcomer: NsProcess }[] = []
    let lookups = 0
    for (let i = 0; i < CYCLES; i++) {
      const name = sb.name(`rl-reuse${i}`)
      const leader = await spawnInNs()
      if (i % 2 === 0) {
        await bus.call(DEST, MANAGER, MANAGER_IFACE, 'CreateMachine', 'sayssusa(sv)', [name, Buffer.alloc(0), 'rl-reuse', 'container', leader.pid, '', []])
      } else {
        const vl = await VarlinkCaller.connect(sb)
        assert.deepEqual(await vl.call('io.systemd.Machine.Register', { name, class: 'container', service: 'rl-reuse', leader: leader.pid, allocateUnit: true }), { parameters: {} })
        vl.close()
      }
      assert.deepEqual(await machineOfPid(leader.pid), { dbus: machineObjectPath(name), varlink: name }, 'the leader\'s PID finds its machine')
      // One more process in the scope, so the machine stays after its leader dies.
      const lodger = spawn('sleep', ['1000'], { stdio: 'ignore' })
      children.push(lodger)
      // A host PID, written from the host: into every copy of the scope the sandbox's layout tracks processes in.
      for (const dir of sb.scopeDirs(name)) writeFileSync(join(dir, 'cgroup.procs'), `${lodger.pid}\n`)

      sb.execSync(['kill', '-9', String(leader.pid)])
      await eventually(() => !nsAlive(leader.pid), 5000, 'the leader to be reaped')
      const newcomer = await spawnInNs(leader.pid)
      assert.equal(newcomer.pid, leader.pid)
      // The machine is still there, naming that PID as its leader: the lookup must still not return it.
      const [props] = await bus.call(DEST, machineObjectPath(name), 'org.freedesktop.DBus.Properties', 'GetAll', 's', ['']) as [Record<string, { value: unknown }>]
      assert.equal(props.Leader?.value, leader.pid)
      assert.deepEqual(await machineOfPid(leader.pid), { dbus: 'org.freedesktop.machine1.NoMachineForPID', varlink: 'io.systemd.Machine.NoSuchMachine' })
      lookups += 2
      // Signalling the machine's leader reaches nobody: not the newcomer.
      await assert.rejects(bus.call(DEST, MANAGER, MANAGER_IFACE, 'KillMachine', 'ssi', [name, 'leader', 9]), (err: unknown) => err instanceof DBusError && err.type === 'org.freedesktop.DBus.Error.UnixProcessIdUnknown')
      assert.ok(nsAlive(newcomer.pid), 'the process that got the PID lives on')
      reused.push({ name, pid: leader.pid, newcomer })
    }

    // kill -9 of the daemon and a restart: the state files name PIDs that other processes hold now.
    await sb.stopDaemon('SIGKILL')
    await sb.startDaemon()
    const [rows] = await bus.call(DEST, MANAGER, MANAGER_IFACE, 'ListMachines', '', []) as [[string][]]
    assert.deepEqual(rows.map((r) => r[0]), ['.host'], 'no machine whose leader\'s PID was recycled is adopted')
    for (const r of reused) {
      assert.ok(nsAlive(r.pid))
      assert.deepEqual(await machineOfPid(r.pid), { dbus: 'org.freedesktop.machine1.NoMachineForPID', varlink: 'io.systemd.Machine.NoSuchMachine' })
      lookups += 2
    }
    assert.match(sb.daemonLog, /PID of leader got recycled/)
    t.diagnostic(`reliability pid-reuse: cycles=${CYCLES} recycled_pids=${reused.length} lookups=${lookups} (GetMachineByPID + Varlink List by pid, live and after kill -9 + restart) wrong_answers=0 newcomers_signalled=0 in ${Date.now() - started} ms`)
  })
})
