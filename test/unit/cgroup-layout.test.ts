// Where machines go depends on the host's cgroup layout: pure cgroup2
// (most current distributions), hybrid (this project's machines: v1
// controllers plus name=systemd, cgroup2 at /sys/fs/cgroup/unified) or
// legacy v1. The tracking hierarchy is the one libsystemd reads.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { layoutFromMountinfo, trackingPathFromProcCgroup } from '../../src/backends/cgroup-layout.ts'

const UNIFIED = '35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n'
const HYBRID = [
  '25 24 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '26 25 0:23 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  '27 25 0:24 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
  '28 25 0:25 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '29 25 0:26 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices',
  '30 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
].join('\n')
const LEGACY = [
  '25 24 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '27 25 0:24 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
  '28 25 0:25 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
].join('\n')

void describe('layoutFromMountinfo', () => {
  void test('pure cgroup2', () => {
    assert.deepEqual(layoutFromMountinfo(UNIFIED), { kind: 'unified', unified: '/sys/fs/cgroup', systemdV1: undefined, pidsV1: undefined, devicesV1: undefined })
  })
  void test('hybrid', () => {
    assert.deepEqual(layoutFromMountinfo(HYBRID), {
      kind: 'hybrid', unified: '/sys/fs/cgroup/unified', systemdV1: '/sys/fs/cgroup/systemd', pidsV1: '/sys/fs/cgroup/pids', devicesV1: '/sys/fs/cgroup/devices',
    })
  })
  void test('legacy', () => {
    assert.deepEqual(layoutFromMountinfo(LEGACY), { kind: 'legacy', unified: undefined, systemdV1: '/sys/fs/cgroup/systemd', pidsV1: '/sys/fs/cgroup/pids', devicesV1: undefined })
  })
  void test('no cgroups at all', () => {
    assert.equal(layoutFromMountinfo('22 1 0:5 / /proc rw - proc proc rw\n'), undefined)
  })
  void test('escaped mount points', () => {
    const layout = layoutFromMountinfo('35 24 0:30 / /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\n')
    assert.equal(layout?.unified, '/sys/fs/cgroup x')
  })
})

void describe('trackingPathFromProcCgroup', () => {
  const hybridProc = '9:name=systemd:/machine.slice/machine-a.scope\n8:pids:/\n0::/machine.slice/machine-b.scope\n'
  void test('reads the 0:: line where cgroup2 is mounted (libsystemd 252 does on hybrid hosts)', () => {
    assert.equal(trackingPathFromProcCgroup(hybridProc, layoutFromMountinfo(HYBRID)!), '/machine.slice/machine-b.scope')
    assert.equal(trackingPathFromProcCgroup('0::/init.scope\n', layoutFromMountinfo(UNIFIED)!), '/init.scope')
  })
  void test('reads name=systemd on legacy hosts', () => {
    assert.equal(trackingPathFromProcCgroup(hybridProc, layoutFromMountinfo(LEGACY)!), '/machine.slice/machine-a.scope')
  })
})
