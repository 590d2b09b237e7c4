// machined-web's /metrics and io.machinedts.Metrics (issue 14), against
// machines registered with the real daemon in a sandbox: tasks exact, CPU
// seconds that grow with a busy loop, memory within 10 % of the cgroup's
// own file (on a hybrid host the v1 memory cgroup the daemon made for the
// machine's scope), io only where the host accounts for it, and no series left
// for a machine that is gone. The cgroup files are found from the layout
// this host has (cgroup2 with or without controllers, v1 hierarchies).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { dirname, join } from 'node:path'
import { Sandbox, eventually, sleep } from '../helpers/sandbox.ts'
import { callManager, registerMachine } from '../helpers/busctl.ts'
import { WebRun } from '../helpers/web.ts'

interface Series { name: string; labels: Record<string, string>; value: number }

function parseMetrics(text: string): Series[] {
  const out: Series[] = []
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line)
    if (m === null) continue
    const labels: Record<string, string> = {}
    for (const l of m[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1')
    out.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return out
}

/** Where this host keeps the cgroup files the metrics come from. */
function layout(): { unified: string | undefined; v1: (controller: string) => string | undefined } {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => {
    const [left = '', right = ''] = l.split(' - ')
    return { point: left.split(' ')[4] ?? '', type: right.split(' ')[0] ?? '', options: (right.split(' ')[2] ?? '').split(',') }
  })
  return {
    unified: mounts.find((m) => m.type === 'cgroup2')?.point,
    v1: (c) => mounts.find((m) => m.type === 'cgroup' && m.options.includes(c))?.point,
  }
}

function scopeOf(name: string): string {
  return `machine.slice/machine-${name.replace(/-/g, '\\x2d')}.scope`
}

/** io.machinedts.Metrics.List over the sandbox's socket. */
function varlinkList(sb: Sandbox): Promise<{ machines: Record<string, unknown>[] }> {
  return new Promise((resolve, reject) => {
    const s = connect(sb.hostPath('/run/machined-web/io.machinedts.Metrics'))
    let data = ''
    s.on('data', (c: Buffer) => {
      data += c.toString()
      const nul = data.indexOf('\0')
      if (nul >= 0) { s.end(); resolve((JSON.parse(data.slice(0, nul)) as { parameters: { machines: Record<string, unknown>[] } }).parameters) }
    })
    s.on('error', reject)
    s.write(`${JSON.stringify({ method: 'io.machinedts.Metrics.List', parameters: {} })}\0`)
  })
}

void describe('machined-web: /metrics', { timeout: 120_000 }, () => {
  let sb: Sandbox
  let web: WebRun

  const scrape = async (): Promise<Series[]> => {
    const r = await web.api('/metrics')
    assert.equal(r.status, 200)
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    return parseMetrics(await r.text())
  }
  const value = (all: Series[], metric: string, machine: string): number | undefined =>
    all.find((s) => s.name === metric && s.labels.machine === machine)?.value

  /** Registers a machine whose leader runs `script` once it sits in its scope; `beforeRelease` runs in between. */
  const machine = async (base: string, script: string, beforeRelease?: (name: string, leader: number) => void): Promise<{ name: string; leader: number }> => {
    const { leader, release } = await sb.spawnGatedLeader(script)
    const name = sb.name(base)
    assert.ok((await registerMachine(sb, { name, leader: leader.pid!, service: 'metrics-test' })).ok)
    beforeRelease?.(name, leader.pid!)
    release()
    await eventually(async () => (await scrape()).some((s) => s.name === 'machined_machine_info' && s.labels.machine === name), 5000, `${name} in /metrics`)
    return { name, leader: leader.pid! }
  }

  before(async () => {
    sb = await Sandbox.start()
    web = await WebRun.start(sb)
  })

  after(async () => {
    await web?.stop()
    await sb?.stop()
  })

  it('machined_machine_tasks is exact; the info series and the class count carry the machine\'s facts', async () => {
    const { name, leader } = await machine('tasks', 'sleep 1000 & sleep 1000 & sleep 1000 & wait')
    const all = await eventually(async () => {
      const s = await scrape()
      return value(s, 'machined_machine_tasks', name) === 4 ? s : undefined
    }, 5000, 'four tasks: the shell and its three sleeps')
    const info = all.find((s) => s.name === 'machined_machine_info' && s.labels.machine === name)
    assert.deepEqual(info?.labels, { machine: name, class: 'container', service: 'metrics-test', id: '', unit: `machine-${name.replace(/-/g, '\\x2d')}.scope`, leader: String(leader) })
    assert.ok((all.find((s) => s.name === 'machined_machines' && s.labels.class === 'container')?.value ?? 0) >= 1)
    const tasks = all.find((s) => s.name === 'machined_machine_tasks' && s.labels.machine === name)
    assert.deepEqual(tasks?.labels, { machine: name, class: 'container', service: 'metrics-test' })
    const listed = (await varlinkList(sb)).machines.find((m) => m.name === name)
    assert.equal(listed?.tasks, 4)
    assert.equal(listed?.leader, leader)
  })

  it('machined_machine_cpu_seconds_total grows with a busy loop and matches the cgroup\'s own figure', async () => {
    const { name } = await machine('cpu', 'while :; do :; done')
    const first = value(await scrape(), 'machined_machine_cpu_seconds_total', name)!
    await sleep(1500)
    const l = layout()
    const own = (): number => l.unified !== undefined
      ? Number(/usage_usec (\d+)/.exec(readFileSync(join(l.unified, scopeOf(name), 'cpu.stat'), 'utf8'))![1]) / 1e6
      : Number(readFileSync(join(l.v1('cpuacct')!, scopeOf(name), 'cpuacct.usage'), 'utf8')) / 1e9
    const file = own()
    const second = value(await scrape(), 'machined_machine_cpu_seconds_total', name)!
    assert.ok(second - first > 0.3, `only ${second - first} s of CPU in 1.5 s of a busy loop`)
    assert.ok(Math.abs(second - file) <= 0.1 * file, `metric ${second} vs cgroup file ${file}`)
    await callManager(sb, 'TerminateMachine', 's', name)
  })

  it('machined_machine_memory_bytes is within 10 % of the cgroup\'s memory file, for a machine registered as any is', async (t) => {
    const l = layout()
    const unifiedMemory = l.unified !== undefined && readFileSync(join(l.unified, 'cgroup.controllers'), 'utf8').split(' ').map((c) => c.trim()).includes('memory')
    const v1 = l.v1('memory')
    let memoryFile: string | undefined
    // RegisterMachine of a leader in no scope: the daemon makes the scope, in the v1 memory hierarchy too where the
    // host has one (every unit's memory is accounted, as systemd 252 does on a hybrid host). Only where the memory
    // controller is cgroup2's does the test enable it for machine.slice's children itself (the daemon enables it for limits only).
    const { name } = await machine('mem', 'exec python3 -c "b = b\'x\' * (64 << 20); import time; time.sleep(1000)"', (n) => {
      if (v1 !== undefined) {
        memoryFile = join(v1, scopeOf(n), 'memory.usage_in_bytes')
        assert.ok(existsSync(memoryFile), `the daemon made no v1 memory cgroup for ${n}`)
      } else if (unifiedMemory) {
        writeFileSync(join(l.unified!, 'machine.slice/cgroup.subtree_control'), '+memory')
        memoryFile = join(l.unified!, scopeOf(n), 'memory.current')
      }
    })
    if (memoryFile === undefined) {
      t.diagnostic('branch: no memory controller on this host')
      assert.equal(value(await scrape(), 'machined_machine_memory_bytes', name), undefined, 'no series where the host accounts no memory')
      return
    }
    t.diagnostic(`branch: ${v1 !== undefined ? 'v1 memory hierarchy (the daemon\'s own scope)' : 'cgroup2 memory controller'}`)
    const file = memoryFile
    await eventually(() => Number(readFileSync(file, 'utf8')) >= 64 << 20, 10_000, 'the leader to fill 64 MiB')
    const metric = value(await scrape(), 'machined_machine_memory_bytes', name)
    const own = Number(readFileSync(file, 'utf8'))
    assert.ok(metric !== undefined, 'no memory series')
    assert.ok(Math.abs(metric - own) <= 0.1 * own, `metric ${metric} vs cgroup file ${own}`)
    // The page's samples have it too (the same reader, once a second).
    await eventually(async () => {
      const status = await (await web.api(`/api/machines/${encodeURIComponent(name)}`)).json() as { sample: { memory: number | null } | null }
      const sample = status.sample?.memory ?? undefined
      const now = Number(readFileSync(file, 'utf8'))
      return sample !== undefined && Math.abs(sample - now) <= 0.1 * now
    }, 5000, 'a memory sample on the machine\'s page within 10 % of the file')
    await callManager(sb, 'TerminateMachine', 's', name)
    await eventually(() => !existsSync(dirname(file)), 5000, 'the scope\'s memory cgroup to go with it')
  })

  it('io series exist exactly where the host accounts io per machine', async () => {
    const { name } = await machine('io', 'sleep 1000')
    const l = layout()
    const accounted = (l.unified !== undefined && existsSync(join(l.unified, scopeOf(name), 'io.stat')))
      || (l.v1('blkio') !== undefined && existsSync(join(l.v1('blkio')!, scopeOf(name))))
    const all = await scrape()
    assert.equal(value(all, 'machined_machine_io_read_bytes_total', name) !== undefined, accounted)
    assert.equal(value(all, 'machined_machine_io_write_bytes_total', name) !== undefined, accounted)
  })

  it('leaves no series behind for a machine that is gone', async () => {
    const { name } = await machine('gone', 'sleep 1000')
    assert.ok((await scrape()).some((s) => s.labels.machine === name))
    assert.ok((await callManager(sb, 'UnregisterMachine', 's', name)).ok)
    await eventually(async () => !(await scrape()).some((s) => s.labels.machine === name), 2000, 'every series of the machine to go')
    assert.ok(!(await varlinkList(sb)).machines.some((m) => m.name === name))
  })
})
