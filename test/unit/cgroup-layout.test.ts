// Where machines go depends on the host's cgroup layout: pure cgroup2
// (most current distributions), hybrid (this project's machines: v1
// controllers plus name=systemd, cgroup2 at /sys/fs/cgroup/unified) or
// legacy v1. The layout comes from the one mountinfo parser
// (src/linux/mountinfo.ts), which once existed three times and disagreed:
// one copy kept the last matching mount, one the first, one did not undo
// the kernel's escapes. The cases below would each have caught one of them.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { detectCgroupLayout, hierarchyKey, layoutFromMountinfo } from '../../src/linux/cgroup-layout.ts'
import { cgroupIn, cgroupOf, parseProcCgroup, sliceCgroup, trackingCgroup, unitCgroupPath, unitOfCgroupPath } from '../../src/linux/cgroup-paths.ts'
import { MountTable, parseMountinfo } from '../../src/linux/mountinfo.ts'

const UNIFIED = '35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n'
const HYBRID = [
  '25 24 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '26 25 0:23 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  '27 25 0:24 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
  '28 25 0:25 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '29 25 0:26 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices',
  '30 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '32 25 0:29 / /sys/fs/cgroup/blk\\040io rw,relatime - cgroup cgroup rw,blkio',
].join('\n')
const LEGACY = [
  '25 24 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '27 25 0:24 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
  '28 25 0:25 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
].join('\n')
const ROOT = '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw'
const SYS = '23 22 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw'

void describe('mountinfo', () => {
  void test('fields, with the kernel\'s octal escapes undone in root, mount point and source', () => {
    const [m] = parseMountinfo('36 35 98:0 /a\\040b /mnt/x\\011y\\134z\\012 rw,noatime master:1 shared:2 - ext3 /dev/my\\040disk rw,errors=continue\n')
    assert.deepEqual(m, {
      id: 36, parentId: 35, root: '/a b', mountPoint: '/mnt/x\ty\\z\n', fsType: 'ext3', source: '/dev/my disk', superOptions: ['rw', 'errors=continue'],
    })
  })

  void test('malformed lines are passed over', () => {
    assert.deepEqual(parseMountinfo('garbage\n\nx y 0:1 / /a rw - tmpfs t rw\n'), [])
  })

  void test('a mount point with a space: the CLI\'s copy kept "\\040" in the path', () => {
    const layout = layoutFromMountinfo(`${ROOT}\n${SYS}\n35 23 0:30 / /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\n`)
    assert.equal(layout?.unified, '/sys/fs/cgroup x')
  })
})

void describe('stacked mounts: only the one on top counts', () => {
  // A cgroup2 mount at /sys/fs/cgroup with a tmpfs mounted over it (a hybrid tree built on top).
  const covered = [
    ROOT, SYS,
    '30 23 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw',
    '40 30 0:40 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755',
    '41 40 0:41 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd',
    '42 40 0:30 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
  ]

  void test('the covered mount is not used (the copies that kept the first match used it)', () => {
    assert.deepEqual(layoutFromMountinfo(covered.join('\n')), {
      kind: 'hybrid', unified: '/sys/fs/cgroup/unified', systemdV1: '/sys/fs/cgroup/systemd', pidsV1: undefined, devicesV1: undefined, memoryV1: undefined,
      cpuacctV1: undefined, blkioV1: undefined,
    })
  })

  void test('whatever the order of the lines (the copy that kept the last match used it then)', () => {
    const reordered = [covered[0]!, covered[1]!, covered[3]!, covered[4]!, covered[5]!, covered[2]!]
    assert.equal(layoutFromMountinfo(reordered.join('\n'))?.unified, '/sys/fs/cgroup/unified')
  })

  void test('a mount on a directory above hides everything below it', () => {
    const hidden = [...HYBRID.split('\n').map((l) => l.replace(/^25 24/, '25 23')), ROOT, SYS, '50 23 0:50 / /sys/fs rw - tmpfs tmpfs rw']
    assert.equal(layoutFromMountinfo(hidden.join('\n')), undefined)
  })

  void test('the top of the stack is reachable, and so is what is mounted on it', () => {
    const table = MountTable.parse(covered.join('\n'))
    const byId = (id: number) => table.mounts.find((m) => m.id === id)!
    assert.equal(table.isReachable(byId(30)), false)
    assert.equal(table.isReachable(byId(40)), true)
    assert.equal(table.isReachable(byId(42)), true)
    assert.equal(table.isReachable(byId(22)), true, 'the root, whose parent is outside the namespace')
  })

  void test('a root mount listed as its own parent covers nothing', () => {
    assert.equal(layoutFromMountinfo(['1 1 0:1 / / rw - rootfs rootfs rw', '2 1 0:2 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw'].join('\n'))?.unified, '/sys/fs/cgroup')
  })
})

void describe('one hierarchy mounted at several places: the first mount of its root counts', () => {
  void test('later copies and subtree mounts are not used (the copy that kept the last match used them)', () => {
    const text = [
      ...HYBRID.split('\n'),
      // A container's cgroup namespace view of its scope, and a second bind mount of the whole hierarchy.
      '60 22 0:23 /machine.slice/machine-x.scope /var/lib/machines/x/sys/fs/cgroup rw - cgroup2 cgroup2 rw',
      '61 22 0:23 / /mnt/cgroup-copy rw - cgroup2 cgroup2 rw',
      '62 22 0:24 /machine.slice /mnt/systemd-copy rw - cgroup cgroup rw,xattr,name=systemd',
    ].join('\n')
    const layout = layoutFromMountinfo(text)
    assert.equal(layout?.unified, '/sys/fs/cgroup/unified')
    assert.equal(layout?.systemdV1, '/sys/fs/cgroup/systemd')
  })

  void test('a subtree mount counts only when nothing better is reachable', () => {
    assert.equal(layoutFromMountinfo('60 22 0:23 /docker/x /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n')?.unified, '/sys/fs/cgroup')
  })
})

void describe('layouts', () => {
  void test('pure cgroup2', () => {
    assert.deepEqual(layoutFromMountinfo(UNIFIED), {
      kind: 'unified', unified: '/sys/fs/cgroup', systemdV1: undefined, pidsV1: undefined, devicesV1: undefined, memoryV1: undefined, cpuacctV1: undefined, blkioV1: undefined,
    })
  })
  void test('hybrid', () => {
    assert.deepEqual(layoutFromMountinfo(HYBRID), {
      kind: 'hybrid', unified: '/sys/fs/cgroup/unified', systemdV1: '/sys/fs/cgroup/systemd', pidsV1: '/sys/fs/cgroup/pids', devicesV1: '/sys/fs/cgroup/devices', memoryV1: '/sys/fs/cgroup/memory',
      // Co-mounted controllers (cpu,cpuacct) and escaped mount points are found too.
      cpuacctV1: '/sys/fs/cgroup/cpu,cpuacct', blkioV1: '/sys/fs/cgroup/blk io',
    })
  })
  void test('legacy', () => {
    assert.deepEqual(layoutFromMountinfo(LEGACY), {
      kind: 'legacy', unified: undefined, systemdV1: '/sys/fs/cgroup/systemd', pidsV1: '/sys/fs/cgroup/pids', devicesV1: undefined, memoryV1: undefined, cpuacctV1: undefined, blkioV1: undefined,
    })
  })
  void test('no cgroups at all', () => {
    assert.equal(layoutFromMountinfo('22 1 0:5 / /proc rw - proc proc rw\n'), undefined)
  })
  void test('this host has one that tracks processes', () => {
    const layout = detectCgroupLayout()
    assert.ok(layout !== undefined)
    assert.ok(layout.unified !== undefined || layout.systemdV1 !== undefined)
  })
})

void describe('/proc/PID/cgroup', () => {
  const hybridProc = '9:name=systemd:/machine.slice/machine-a.scope\n8:pids:/x\n5:cpu,cpuacct:/\n0::/machine.slice/machine-b.scope/init.scope\n'
  const hybrid = layoutFromMountinfo(HYBRID)!

  void test('one line per hierarchy; a path may hold colons', () => {
    assert.deepEqual(parseProcCgroup('5:cpu,cpuacct:/a:b\n0::/c\n'), [
      { hierarchyId: 5, controllers: ['cpu', 'cpuacct'], path: '/a:b' },
      { hierarchyId: 0, controllers: [], path: '/c' },
    ])
  })

  void test('each of the layout\'s hierarchies finds its own line', () => {
    const lines = parseProcCgroup(hybridProc)
    assert.equal(cgroupIn(lines, hybrid, '/sys/fs/cgroup/unified'), '/machine.slice/machine-b.scope/init.scope')
    assert.equal(cgroupIn(lines, hybrid, '/sys/fs/cgroup/systemd'), '/machine.slice/machine-a.scope')
    assert.equal(cgroupIn(lines, hybrid, '/sys/fs/cgroup/pids'), '/x')
    assert.equal(cgroupIn(lines, hybrid, '/sys/fs/cgroup/cpu,cpuacct'), '/', 'a co-mounted controller')
    assert.equal(cgroupIn(lines, hybrid, '/sys/fs/cgroup/devices'), undefined, 'no line for it')
    assert.equal(cgroupIn(lines, hybrid, '/elsewhere'), undefined)
    assert.equal(hierarchyKey(hybrid, '/sys/fs/cgroup/memory'), 'memory', 'MemoryMax= goes there')
    assert.equal(hierarchyKey(hybrid, '/sys/fs/cgroup/freezer'), undefined, 'not a hierarchy we use')
    assert.equal(cgroupOf(parseProcCgroup('0::/x\n'), 'name=systemd'), undefined)
  })

  void test('the tracking cgroup is the 0:: line where cgroup2 is mounted (libsystemd 252 reads it on hybrid hosts)', () => {
    assert.equal(trackingCgroup(parseProcCgroup(hybridProc), hybrid), '/machine.slice/machine-b.scope/init.scope')
    assert.equal(trackingCgroup(parseProcCgroup('0::/init.scope\n'), layoutFromMountinfo(UNIFIED)!), '/init.scope')
  })

  void test('and name=systemd on legacy hosts', () => {
    assert.equal(trackingCgroup(parseProcCgroup(hybridProc), layoutFromMountinfo(LEGACY)!), '/machine.slice/machine-a.scope')
  })
})

void describe('unit cgroups', () => {
  void test('a unit below its slices', () => {
    assert.equal(unitCgroupPath('machine.slice', 'machine-x.scope'), '/machine.slice/machine-x.scope')
    assert.equal(unitCgroupPath('a-b.slice', 'u.scope'), '/a.slice/a-b.slice/u.scope')
    assert.equal(unitCgroupPath('-.slice', 'u.scope'), '/u.scope')
    assert.equal(sliceCgroup('a-b.slice'), '/a.slice/a-b.slice')
    assert.equal(sliceCgroup('-.slice'), '/')
  })

  void test('the unit of a process\'s cgroup, and the unit\'s own cgroup above the process', () => {
    assert.deepEqual(unitOfCgroupPath('/machine.slice/machine-x.scope/init.scope'), { unit: 'machine-x.scope', cgroup: '/machine.slice/machine-x.scope' })
    assert.deepEqual(unitOfCgroupPath('/system.slice/sshd.service'), { unit: 'sshd.service', cgroup: '/system.slice/sshd.service' })
    assert.equal(unitOfCgroupPath('/'), undefined)
    assert.equal(unitOfCgroupPath('/machine.slice'), undefined)
  })
})
