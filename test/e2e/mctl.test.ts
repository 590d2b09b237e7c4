// mctl, our machinectl, against machined-ts: for the same machines it
// prints exactly what the real machinectl 252 prints, run in the same test
// (stdout byte for byte, exit codes, error lines); its verbs that change
// things reach the machines' processes; and it keeps working where
// machinectl refuses to (no /run/systemd/system) and over Varlink alone.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { callManager, idArgs, listMachineNames } from '../helpers/busctl.ts'
import { eventually, REPO, Sandbox, type ExecResult } from '../helpers/sandbox.ts'
import { mctlForAnyUser } from '../helpers/staged.ts'

const MCTL = [process.execPath, join(REPO, 'bin/mctl.js')]

describe('mctl next to real machinectl', () => {
  let sb: Sandbox
  const mctl = (...args: string[]): Promise<ExecResult> => sb.exec([...MCTL, ...args])
  const machinectl = (...args: string[]): Promise<ExecResult> => sb.exec(['machinectl', ...args])

  /** Both tools, same arguments: same stdout, same exit code, and (unless told) the same stderr. */
  async function same(args: string[], options: { stderr?: (s: string) => string; transport?: string } = {}): Promise<ExecResult> {
    const real = await machinectl(...args)
    const ours = await mctl(...(options.transport === undefined ? [] : [`--transport=${options.transport}`]), ...args)
    const what = `\`${args.join(' ')}\``
    assert.equal(ours.stdout, real.stdout, `stdout of ${what}`)
    assert.equal(ours.code, real.code, `exit code of ${what}; stderr: ${ours.stderr}`)
    const stderr = options.stderr ?? ((s: string): string => s)
    assert.equal(ours.stderr, stderr(real.stderr), `stderr of ${what}`)
    return real
  }

  let g1: string
  let long: string
  let mid: string
  const leaders: Record<string, number> = {}

  /** Outputs taken before any machine is registered (only .host exists then). */
  const empty: { args: string[]; real: ExecResult; ours: ExecResult }[] = []

  before(async () => {
    sb = await Sandbox.start()
    for (const args of [['list'], ['list', '--no-legend'], ['list', '-o', 'json'], ['list', '-o', 'json-pretty'], ['list', '--all']]) {
      empty.push({ args, real: await machinectl(...args), ours: await mctl(...args) })
    }
    g1 = sb.name('g1')
    long = sb.name('a-much-longer-machine-name')
    mid = sb.name('mid-name')
    for (const n of [g1, long, mid]) leaders[n] = (await sb.spawnLeader()).pid!
    // A container with id, service, root and a network interface (lo, index 1).
    assert.equal((await callManager(sb, 'RegisterMachineWithNetwork', 'sayssusai', g1, ...idArgs('0102030405060708090a0b0c0d0e0f10'),
      'svc', 'container', leaders[g1]!, '/srv/g1', 1, 1)).ok, true)
    // A VM with a service but no id and no root.
    assert.equal((await callManager(sb, 'RegisterMachine', 'sayssus', long, '0', 'qemu-runner', 'vm', leaders[long]!, '')).ok, true)
    // A container with an id but no service and no root.
    assert.equal((await callManager(sb, 'RegisterMachine', 'sayssus', mid, ...idArgs('ab'.repeat(16)), '', 'container', leaders[mid]!, '')).ok, true)
  })
  after(async () => { await sb?.stop() })

  it('with no machine registered: "No machines.", nothing without the legend, [] as JSON', () => {
    for (const { args, real, ours } of empty) assert.deepEqual(ours, real, args.join(' '))
    assert.equal(empty[0]!.real.stdout, 'No machines.\n')
    assert.equal(empty[1]!.real.stdout, '')
    assert.equal(empty[2]!.real.stdout, '[]\n')
  })

  describe('list', () => {
    const cases = [
      [], ['list'], ['list', '--no-legend'], ['list', '--all'], ['list', '--all', '--full'], ['list', '--all', '--no-legend', '-l'],
      ['list', '--all', '--max-addresses=2'], ['list', '--all', '--max-addresses=all'], ['list', '--max-addresses=0'],
      ['list', '--output=json'], ['list', '--output=json-pretty'], ['list', '-o', 'json', '--all'], ['list', '--output=json-seq'],
      ['list', '--output=json-sse', '--all'], ['list', '-o', 'short'], ['list', '--no-pager', '-q'],
    ]
    for (const args of cases) it(`\`${args.join(' ') || '(no verb)'}\` prints what machinectl prints`, async () => { await same(args) })

    it('squeezes columns to the terminal the same way (COLUMNS=30 on a pseudo-terminal)', async () => {
      const onTty = async (cmd: string[]): Promise<string> =>
        (await sb.exec(['script', '-qec', `COLUMNS=30 ${cmd.join(' ')} --no-pager list --all`, '/dev/null'])).stdout
      const real = await onTty(['machinectl'])
      assert.match(real, /…/)
      assert.equal(await onTty(MCTL), real)
    })

    it('over Varlink only (--transport=varlink) the list is the same', async () => {
      for (const args of [['list'], ['list', '--all'], ['list', '--no-legend'], ['list', '-o', 'json-pretty', '--all']]) await same(args, { transport: 'varlink' })
    })

    // A plain `mctl list` takes Varlink first (src/cli/quick-list.ts), so D-Bus is asked for by name here.
    it('over D-Bus (--transport=dbus) the list is the same', async () => {
      for (const args of [['list'], ['list', '--all'], ['list', '-o', 'json-pretty', '--all']]) await same(args, { transport: 'dbus' })
    })

    it('with no Varlink socket, or one that cannot list with metadata (systemd-machined before 257), it lists over D-Bus', async () => {
      const real = { list: (await machinectl('list')).stdout, all: (await machinectl('list', '--all')).stdout }
      const dir = mkdtempSync(join(tmpdir(), 'mctl-varlink-'))
      // An io.systemd.Machine that knows no List, as systemd-machined 256's serves Register only.
      const old = createServer((conn) => {
        conn.on('data', () => { conn.write('{"error":"org.varlink.service.MethodNotFound","parameters":{"method":"io.systemd.Machine.List"}}\0') })
        conn.on('error', () => undefined)
      })
      await new Promise<void>((resolve) => old.listen(join(dir, 'old'), resolve))
      try {
        for (const socket of [join(dir, 'none'), join(dir, 'old')]) {
          for (const args of [['list'], ['list', '--all']]) {
            const ours = await sb.exec(['env', `MACHINED_VARLINK_SOCKET=${socket}`, ...MCTL, ...args])
            assert.equal(ours.code, 0, ours.stderr)
            assert.equal(ours.stdout, args.length === 2 ? real.all : real.list, `${args.join(' ')} with ${socket}`)
          }
        }
        // Asked for Varlink by name, the old one's answer is the error.
        const asked = await sb.exec(['env', `MACHINED_VARLINK_SOCKET=${join(dir, 'old')}`, ...MCTL, '--transport=varlink', 'list'])
        assert.deepEqual([asked.code, asked.stderr], [1, 'Could not get machines: This machined cannot list machines with their metadata over Varlink\n'])
      } finally {
        old.close()
        rmSync(dir, { recursive: true, force: true })
      }
    })
  })

  it('bash completion offers verbs, option values and the machines mctl lists', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mctl-bin-'))
    try {
      writeFileSync(join(dir, 'mctl'), `#!/bin/sh\nexec ${MCTL.join(' ')} "$@"\n`, { mode: 0o755 })
      const complete = (...words: string[]): string =>
        `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; COMPREPLY=(); _mctl; echo "\${COMPREPLY[*]}"`
      const script = [`source ${join(REPO, 'completion/mctl.bash')}`, complete('mctl', 'st'), complete('mctl', '-a', 'status', ''),
        complete('mctl', '--kill-whom', ''), complete('mctl', '--no-l'), complete('mctl', 'co'), complete('mctl', 'copy-to', '')].join('; ')
      const r = await sb.exec(['env', `PATH=${dir}:${process.env.PATH ?? ''}`, 'bash', '-c', script])
      assert.equal(r.code, 0, r.stderr)
      const [verbs, names, whom, option, copyVerbs, copyNames] = r.stdout.split('\n')
      assert.equal(verbs, 'status start stop')
      assert.deepEqual(new Set(names!.split(' ')), new Set([g1, long, mid]))
      assert.equal(whom, 'leader all')
      assert.equal(option, '--no-legend')
      assert.equal(copyVerbs, 'copy-to copy-from')
      assert.deepEqual(new Set(copyNames!.split(' ')), new Set([g1, long, mid]), 'a machine first, then host paths')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  describe('show', () => {
    const cases = (): string[][] => [
      ['show', g1], ['show', g1, '--all'], ['show', g1, '-p', 'Name', '-p', 'Leader'], ['show', g1, '-p', 'Id', '--value'],
      ['show', g1, '--value'], ['show', long], ['show', long, '--all'], ['show', mid, '-a'], ['show', '.host'], ['show', '.host', '--all'],
      ['show', g1, long, mid], ['show'], ['show', '--all'], ['show', '-p', 'PoolPath', '--value'],
      ['show', g1, '-p', 'State=running', '-p', 'Class=vm', '-p', 'NetworkInterfaces'],
    ]
    it('prints what machinectl prints, for machines and for the Manager', async () => {
      for (const args of cases()) await same(args)
    })

    it('over Varlink: the same lines, without State (Varlink does not report it)', async () => {
      const real = await machinectl('show', g1, '--all')
      const ours = await mctl('--transport=varlink', 'show', g1, '--all')
      assert.equal(ours.code, 0, ours.stderr)
      assert.equal(ours.stdout, real.stdout.replace(/^State=.*\n/m, ''))
    })
  })

  describe('status', () => {
    /** The relative part of "Since:" moves on between the two runs. */
    const normalise = (s: string): string => s.replace(/^(\t {3}Since: .*); .* (ago|left)$/gm, '$1; X ago')
    /** mctl's process tree below "Unit:" (machinectl needs systemd1 for it and prints an error instead). */
    const withoutTree = (s: string): string => s.split('\n').filter((l) => !l.startsWith('\t\t  ')).join('\n')

    it('prints the same lines; where machinectl fails to ask systemd1, mctl shows the processes from the cgroup tree', async () => {
      for (const names of [[g1], [long], [mid], [g1, long]]) {
        const real = await machinectl('status', ...names)
        const ours = await mctl('status', ...names)
        assert.equal(ours.code, real.code)
        assert.equal(normalise(withoutTree(ours.stdout)), normalise(real.stdout), `status ${names.join(' ')}`)
        assert.match(real.stderr, /^Failed to query unit control group path: /)
        assert.equal(ours.stderr, '')
        for (const n of names) assert.match(ours.stdout, new RegExp(`^\\t\\t  └─${leaders[n]} sleep 1000$`, 'm'))
      }
    })

    it('shows the interface and the host the same way', async () => {
      const real = await machinectl('status', g1)
      assert.match(real.stdout, /^\t {3}Iface: lo$/m)
      const host = await machinectl('status', '.host')
      const ours = await mctl('status', '.host')
      assert.equal(normalise(withoutTree(ours.stdout)), normalise(host.stdout))
    })
  })

  describe('errors and exit codes', () => {
    it('are machinectl\'s, word for word', async () => {
      const cases = [
        ['status', 'nosuch'], ['show', 'nosuch'], ['show', g1, 'nosuch'], ['terminate', 'nosuch'], ['kill', 'nosuch'],
        ['poweroff', 'nosuch'], ['reboot', 'nosuch'], ['kill', g1, '--signal=bogus'], ['kill', g1, '--signal=SIGRTMIN+31'],
        ['kill', g1, '--kill-whom=bogus'], ['status'], ['terminate'], ['list', 'extra'], ['bogusverb'], ['--output=foo'],
        ['--max-addresses=x', 'list'], ['-n', 'x'],
      ]
      for (const args of cases) {
        const real = await same(args)
        assert.equal(real.code, 1, args.join(' '))
        assert.equal(real.stderr.split('\n').length, 2, `one line for ${args.join(' ')}`)
      }
    })

    it('bad options are worded as glibc words them, with our name', async () => {
      for (const args of [['--foo'], ['-x'], ['--no'], ['--signal'], ['--all=1']]) {
        await same(args, { stderr: (s) => s.replace(/^machinectl:/, 'mctl:') })
      }
    })

    it('permission denied: the daemon\'s refusal, as machinectl prints it', async () => {
      const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
      const real = await sb.exec([...asNobody, 'machinectl', '--no-ask-password', 'terminate', g1])
      const ours = await sb.exec([...asNobody, ...mctlForAnyUser(), '--no-ask-password', 'terminate', g1])
      assert.equal(real.code, 1)
      assert.deepEqual(ours, real)
      assert.equal(ours.stderr, 'Could not terminate machine: Access denied\n')
    })
  })

  describe('verbs that act on machines', () => {
    async function create(base: string, leader: number): Promise<string> {
      const name = sb.name(base)
      assert.equal((await callManager(sb, 'CreateMachine', 'sayssusa(sv)', name, '0', 'svc', 'container', leader, '', 0)).ok, true)
      return name
    }

    it('terminate stops every process of the machine and it goes away', async () => {
      const { leader, release } = await sb.spawnGatedLeader('sleep 1000 & wait')
      const name = await create('term', leader.pid!)
      release()
      const r = await mctl('terminate', name)
      assert.deepEqual(r, { code: 0, stdout: '', stderr: '' })
      await eventually(() => leader.exitCode !== null || leader.signalCode !== null, 5000, 'the leader to stop')
      await eventually(async () => !(await listMachineNames(sb)).includes(name), 5000, 'the machine to go')
    })

    it('kill --kill-whom=leader signals only the leader; kill signals all', async () => {
      const { leader, release } = await sb.spawnGatedLeader('sleep 1000 & wait')
      const name = await create('kill', leader.pid!)
      release()
      const child = Number(await eventually(async () => (await sb.exec(['pgrep', '-P', String(leader.pid), '-f', '^sleep 1000$'])).stdout.trim() || undefined, 5000, 'the child'))
      assert.equal((await mctl('kill', '--kill-whom=leader', '-s', 'USR1', name)).code, 0)
      await eventually(() => leader.signalCode === 'SIGUSR1', 5000, 'SIGUSR1 to reach the leader')
      assert.equal((await sb.exec(['kill', '-0', String(child)])).code, 0)
      assert.equal((await mctl('kill', '--signal=9', name)).code, 0)
      await eventually(async () => (await sb.exec(['kill', '-0', String(child)])).code !== 0, 5000, 'the child to die')
      await eventually(async () => !(await listMachineNames(sb)).includes(name), 5000, 'the machine to go')
    })

    /** A bash leader that writes `word` to a file when `signal` arrives, then exits. */
    async function trapping(signal: string, word: string): Promise<{ leader: Awaited<ReturnType<Sandbox['spawnLeader']>>; mark: string }> {
      const mark = `/tmp/machined-ts-mctl-${process.pid}-${word}`
      rmSync(mark, { force: true })
      const leader = await sb.spawnLeader(['bash', '-c', `trap 'echo ${word} > ${mark}; exit 0' ${signal}; while :; do sleep 0.1; done`])
      return { leader, mark }
    }

    for (const [verb, signal, args] of [
      ['poweroff', 'RTMIN+4', []], ['reboot', 'INT', []], ['kill', 'RTMIN+5', ['--kill-whom=leader', '--signal=SIGRTMIN+5']],
    ] as const) {
      it(`${verb} ${args.join(' ')} sends SIG${signal} to the leader`, async () => {
        const { leader, mark } = await trapping(signal, verb)
        const name = sb.name(verb)
        assert.equal((await callManager(sb, 'RegisterMachine', 'sayssus', name, '0', 'svc', 'container', leader.pid!, '')).ok, true)
        assert.deepEqual(await mctl(verb, ...args, name), { code: 0, stdout: '', stderr: '' })
        await eventually(() => leader.exitCode === 0, 5000, `the leader to take SIG${signal}`)
        assert.equal(readFileSync(mark, 'utf8'), `${verb}\n`)
        rmSync(mark, { force: true })
        await eventually(async () => !(await listMachineNames(sb)).includes(name), 5000, 'the machine to go')
      })
    }
  })

  describe('without systemd', () => {
    it('works where /run/systemd/system does not exist, where machinectl refuses', async () => {
      const before = await machinectl('list', '--all')
      assert.equal(before.code, 0)
      assert.equal(sb.execSync(['rmdir', '/run/systemd/system']).code, 0)
      try {
        const real = await machinectl('list')
        assert.equal(real.code, 1)
        assert.equal(real.stderr, "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n")
        const ours = await mctl('list', '--all')
        assert.deepEqual(ours, before)
        assert.equal((await mctl('show', g1, '-p', 'State', '--value')).stdout, 'running\n')
      } finally {
        sb.execSync(['mkdir', '-p', '/run/systemd/system'])
      }
    })

    it('says in one line that no machined runs when there is none', async () => {
      await sb.stopDaemon()
      assert.equal(existsSync(sb.hostPath('/run/systemd/machine/io.systemd.Machine')), false)
      const r = await mctl('list')
      assert.equal(r.code, 1)
      assert.equal(r.stdout, '')
      assert.match(r.stderr, /^No machined is running: [^\n]*\n$/)
    })
  })
})
