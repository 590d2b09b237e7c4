// Finding a unit's cgroups from its leader and reading its figures
// (src/linux/unit-cgroup.ts, src/linux/cgroup-stats.ts), and the host's
// interface names (src/linux/netif.ts): the readers `mctl status` and the
// web console share. Each runs against hierarchies and a /proc made of
// plain directories and files, shaped as the kernel shapes them, so every
// branch (cgroup2 files, v1 controllers, neither) is taken on any host.
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CgroupLayout } from '../../src/linux/cgroup-layout.ts'
import { keyedValue, parseBlkioServiceBytes, parseIoStat, readCgroupStats } from '../../src/linux/cgroup-stats.ts'
import { interfaceNames } from '../../src/linux/netif.ts'
import { cgroupProcesses, locateUnitCgroups } from '../../src/linux/unit-cgroup.ts'

const root = mkdtempSync(join(tmpdir(), 'linux-cgroup-stats-'))
after(() => rmSync(root, { recursive: true, force: true }))
const proc = join(root, 'proc')

const hybrid: CgroupLayout = {
  kind: 'hybrid', unified: join(root, 'unified'), systemdV1: join(root, 'systemd'), pidsV1: join(root, 'pids'), devicesV1: undefined,
  memoryV1: join(root, 'memory'), cpuacctV1: join(root, 'cpu,cpuacct'), blkioV1: join(root, 'blkio'),
}
const UNIT = 'machine-a\\x2db.scope'
const SCOPE = `/machine.slice/${UNIT}`

/** Writes files below `dir` (made first): name → contents. */
function files(dir: string, contents: Record<string, string> = {}): string {
  mkdirSync(dir, { recursive: true })
  for (const [name, text] of Object.entries(contents)) writeFileSync(join(dir, name), text)
  return dir
}

function processWith(pid: number, cgroup: string, cmdline = 'sleep\0infinity\0'): void {
  files(join(proc, String(pid)), { cgroup, cmdline, stat: `${pid} (sleep) S 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 0\n` })
}

void describe('cgroup stat files', () => {
  test('keyed values, io.stat and blkio byte counts', () => {
    assert.equal(keyedValue('usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n', 'usage_usec'), 1234)
    assert.equal(keyedValue('usage_usec_x 1\n', 'usage_usec'), undefined)
    assert.deepEqual(parseIoStat('8:0 rbytes=100 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=5 wbytes=7 rios=1 wios=1 dbytes=0 dios=0\n'), { read: 105, write: 27 })
    assert.deepEqual(parseIoStat(''), { read: 0, write: 0 })
    assert.deepEqual(parseBlkioServiceBytes('8:0 Read 100\n8:0 Write 20\n8:0 Sync 3\n8:0 Total 123\n8:16 Read 5\nTotal 128\n'), { read: 105, write: 20 })
  })
})

void describe('a unit\'s cgroups, found from its leader', () => {
  // A booted guest: its PID 1 sits in UNIT/init.scope in the tracking hierarchies, at the unit itself in the v1 controllers.
  processWith(101, [
    `12:blkio:${SCOPE}`, `9:memory:${SCOPE}`, `7:pids:${SCOPE}`, '5:cpu,cpuacct:/', `1:name=systemd:${SCOPE}/init.scope`, `0::${SCOPE}/init.scope`, '',
  ].join('\n'))

  test('each hierarchy\'s line, cut after the unit\'s component; hierarchies where it has no cgroup of its own are left out', () => {
    const found = locateUnitCgroups(hybrid, UNIT, 101, proc)
    assert.equal(found.path, SCOPE)
    assert.deepEqual(Object.fromEntries(found.dirs), {
      unified: join(hybrid.unified!, SCOPE), 'name=systemd': join(hybrid.systemdV1!, SCOPE), pids: join(hybrid.pidsV1!, SCOPE),
      memory: join(hybrid.memoryV1!, SCOPE), blkio: join(hybrid.blkioV1!, SCOPE),
    }, 'cpuacct: the leader is in the root cgroup there, which is not the unit\'s')
  })

  test('without a leader to ask: machine.slice/UNIT where it exists (a slice at its own path); nothing else is guessed', () => {
    files(join(hybrid.unified!, '/machine.slice/machine-gone.scope'))
    files(join(hybrid.memoryV1!, '/machine.slice/machine-gone.scope'))
    const gone = locateUnitCgroups(hybrid, 'machine-gone.scope', 999_999, proc)
    assert.equal(gone.path, '/machine.slice/machine-gone.scope')
    assert.deepEqual([...gone.dirs.keys()].sort(), ['memory', 'unified'])
    files(join(hybrid.systemdV1!, '/a.slice/a-b.slice'))
    assert.deepEqual(locateUnitCgroups(hybrid, 'a-b.slice', 101, proc), { path: '/a.slice/a-b.slice', dirs: new Map([['name=systemd', join(hybrid.systemdV1!, '/a.slice/a-b.slice')]]) })
    assert.equal(locateUnitCgroups(hybrid, 'machine-never.scope', 0, proc).path, undefined)
    assert.equal(locateUnitCgroups(hybrid, '', 101, proc).path, undefined, 'no unit, no cgroup (not the leader\'s)')
  })

  test('on a legacy host the path is name=systemd\'s', () => {
    const legacy: CgroupLayout = { ...hybrid, kind: 'legacy', unified: undefined }
    processWith(102, `1:name=systemd:${SCOPE}/payload\n7:pids:${SCOPE}\n`)
    const found = locateUnitCgroups(legacy, UNIT, 102, proc)
    assert.equal(found.path, SCOPE)
    assert.equal(found.dirs.get('unified'), undefined)
  })
})

void describe('a unit\'s figures', () => {
  test('cgroup2 files where they are: cpu.stat, memory.current, pids.current, io.stat', () => {
    const dir = files(join(root, 'v2-unit'), {
      'cpu.stat': 'usage_usec 2500000\nuser_usec 2000000\n', 'memory.current': '67108864\n', 'pids.current': '4\n',
      'io.stat': '8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n',
    })
    // v1 copies that say otherwise: cgroup2 wins, as systemd reads it.
    const v1 = files(join(root, 'v1-other'), { 'memory.usage_in_bytes': '1\n', 'pids.current': '1\n', 'cpuacct.usage': '1\n' })
    const stats = readCgroupStats({ path: '/x', dirs: new Map([['unified', dir], ['memory', v1], ['pids', v1], ['cpuacct', v1]]) })
    assert.deepEqual(stats, { cpuSeconds: 2.5, memoryBytes: 64 << 20, tasks: 4, ioReadBytes: 4096, ioWriteBytes: 512 })
  })

  test('else the v1 controllers\' files (a hybrid host binds memory, pids, cpuacct and blkio to v1)', () => {
    const unified = files(join(root, 'v2-bare'), { 'cpu.stat': 'usage_usec 1000000\n' })
    const memory = files(join(root, 'v1-memory'), { 'memory.usage_in_bytes': '123456789\n' })
    const pids = files(join(root, 'v1-pids'), { 'pids.current': '7\n', 'pids.max': 'max\n' })
    const blkio = files(join(root, 'v1-blkio'), { 'blkio.throttle.io_service_bytes_recursive': '8:0 Read 10\n8:0 Write 3\nTotal 13\n' })
    const c = { path: '/x', dirs: new Map([['unified', unified], ['memory', memory], ['pids', pids], ['blkio', blkio]] as const) }
    assert.deepEqual(readCgroupStats(c), { cpuSeconds: 1, memoryBytes: 123456789, tasks: 7, ioReadBytes: 10, ioWriteBytes: 3 })
    const cpuacct = files(join(root, 'v1-cpuacct'), { 'cpuacct.usage': '1500000000\n' })
    assert.equal(readCgroupStats({ path: '/x', dirs: new Map([['cpuacct', cpuacct]]) }).cpuSeconds, 1.5, 'legacy: cpuacct.usage in ns')
  })

  test('neither: undefined, never a host-wide figure; tasks then counted from the cgroup tree\'s threads', () => {
    const unified = files(join(root, 'v2-count'), { 'cgroup.threads': '10\n11\n' })
    files(join(unified, 'init.scope'), { 'cgroup.threads': '12\n' })
    files(join(unified, 'empty'), { 'cgroup.threads': '' })
    assert.deepEqual(readCgroupStats({ path: '/x', dirs: new Map([['unified', unified]]) }), {
      cpuSeconds: undefined, memoryBytes: undefined, tasks: 3, ioReadBytes: undefined, ioWriteBytes: undefined,
    })
    const systemd = files(join(root, 'v1-systemd'), { tasks: '5\n6\n' })
    assert.equal(readCgroupStats({ path: '/x', dirs: new Map([['name=systemd', systemd]]) }).tasks, 2, 'legacy: v1 tasks files')
    assert.equal(readCgroupStats({ path: undefined, dirs: new Map() }).tasks, undefined)
    const odd = files(join(root, 'v2-odd'), { 'memory.current': 'max\n', 'pids.current': '' })
    assert.equal(readCgroupStats({ path: '/x', dirs: new Map([['unified', odd]]) }).memoryBytes, undefined, 'a file that holds no number')
  })
})

void describe('a unit\'s processes', () => {
  test('every process in the cgroup and below, with its cgroup and command line; gone ones left out', () => {
    const top = join(hybrid.unified!, '/machine.slice/machine-tree.scope')
    files(top, { 'cgroup.procs': '201\n' })
    files(join(top, 'init.scope'), { 'cgroup.procs': '202\n203\n' })
    processWith(201, '', 'bash\0-c\0a\x1bb\0')
    processWith(202, '', '/sbin/init\0')
    const listed = cgroupProcesses(hybrid, '/machine.slice/machine-tree.scope', proc)
    assert.deepEqual(listed, [
      { cgroup: '/machine.slice/machine-tree.scope', pid: 201, name: 'bash -c a\\x1bb' },
      { cgroup: '/machine.slice/machine-tree.scope/init.scope', pid: 202, name: '/sbin/init' },
    ])
    assert.deepEqual(cgroupProcesses({ ...hybrid, unified: undefined, systemdV1: undefined }, '/machine.slice', proc), [])
  })
})

void describe('interface names', () => {
  test('by index, from a /sys/class/net of our own; an entry without ifindex is passed over', () => {
    const net = join(root, 'net')
    files(join(net, 'eth0'), { ifindex: '2\n' })
    files(join(net, 've-x'), { ifindex: '17\n' })
    files(join(net, 'bonding_masters'))
    assert.deepEqual(interfaceNames(net), new Map([[2, 'eth0'], [17, 've-x']]))
    assert.deepEqual(interfaceNames(join(root, 'no-such-dir')), new Map())
  })

  test('this host has its loopback at index 1', () => {
    assert.equal(interfaceNames().get(1), 'lo')
  })
})
