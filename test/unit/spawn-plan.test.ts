// The container's setup as data (src/spawn/plan.ts) and its wire form for
// the helper (plan-codec.ts): the Container Interface's mounts and nodes are
// all there, in an order that works (host paths cloned before pivot_root,
// the cgroup namespace only after "go", exec last).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { buildPlan, INACCESSIBLE_NODES, PROC_INACCESSIBLE, type PlanInput, type PlanStep } from '../../src/spawn/plan.ts'
import { encodeField, encodePlan, encodeStep } from '../../src/spawn/plan-codec.ts'
import { capabilityMask } from '../../src/spawn/capabilities.ts'

const BASE: PlanInput = {
  root: { setup: { kind: 'directory', path: '/var/lib/machines/web' }, readOnly: false, scratch: undefined, staging: { root: '/run/machined-spawn/root/web', lower: '/run/machined-spawn/lower/web' } },
  privateNetwork: false,
  hostOsRelease: '/etc/os-release',
  consolePath: '/dev/pts/7',
  hostname: 'web',
  managerId: 'machined-spawn',
  id: '0123456789abcdef0123456789abcdef',
  bootId: 'fedcba9876543210fedcba9876543210',
  binds: [],
  propagateDir: '/run/machined-spawn/propagate/web',
  unixExportDir: '/run/machined-spawn/unix-export/web',
  devices: [{ name: 'null', mode: 0o666, major: 1, minor: 3 }, { name: 'net/tun', mode: 0o666, major: 10, minor: 200 }],
  capabilities: capabilityMask({ privateNetwork: false }),
  environment: ['container=machined-spawn', 'PATH=/usr/bin'],
  argv: ['/usr/lib/systemd/systemd', 'quiet'],
}

function plan(over: Partial<PlanInput> = {}): PlanStep[] {
  return buildPlan({ ...BASE, ...over })
}

function index(steps: PlanStep[], op: string, ...args: (string | null)[]): number {
  const i = steps.findIndex((s) => s.op === op && args.every((a, k) => s.args[k] === a))
  assert.ok(i >= 0, `no step ${op} ${args.join(' ')}`)
  return i
}

function mountOf(steps: PlanStep[], target: string): PlanStep {
  const s = steps.find((x) => x.op === 'mount' && x.args[1] === target && x.args[0] !== null)
  assert.ok(s !== undefined, `nothing mounted on ${target}`)
  return s
}

void describe('buildPlan', () => {
  test('the helper\'s own lines first: namespaces and the shared incoming directory', () => {
    const p = plan()
    assert.deepEqual(p[0], { op: 'clone', args: ['pid,mount,uts,ipc'] })
    assert.deepEqual(p[1], { op: 'host-shared-dir', args: ['/run/machined-spawn/propagate/web'] })
    assert.deepEqual(p[2], { op: 'host-dir', args: ['/run/machined-spawn/unix-export/web'] })
    assert.deepEqual(plan({ privateNetwork: true })[0], { op: 'clone', args: ['pid,mount,uts,ipc,net'] })
  })

  test('mounts stop propagating first; host paths are cloned before pivot_root, attached after', () => {
    const p = plan({ binds: [{ source: '/srv/data', destination: '/data', readOnly: true, recursive: true, sourceIsDirectory: true }] })
    const pivot = index(p, 'pivot-root', '/var/lib/machines/web')
    assert.ok(index(p, 'mount', null, '/', null, 'slave,rec') < pivot)
    for (const [name, source] of [['os-release', '/etc/os-release'], ['incoming', BASE.propagateDir], ['unix-export', BASE.unixExportDir], ['console', '/dev/pts/7']] as const) {
      assert.ok(index(p, 'clone-tree', name, source) < pivot)
      assert.ok(p.findIndex((s) => s.op === 'attach' && s.args[0] === name) > pivot)
    }
    assert.ok(index(p, 'clone-tree', 'bind0', '/srv/data', 'rec') < pivot)
    assert.ok(index(p, 'attach', 'bind0', '/data') > index(p, 'mount', 'tmpfs', '/tmp', 'tmpfs', 'nosuid,nodev,strictatime', 'mode=01777'))
    assert.equal(p[index(p, 'attach', 'bind0', '/data') + 1]!.op, 'remount-ro-tree')
  })

  test('the API file systems of the Container Interface, with their flags', () => {
    const p = plan()
    assert.deepEqual(mountOf(p, '/proc').args, ['proc', '/proc', 'proc', 'nosuid,nodev,noexec'])
    assert.ok(index(p, 'mount', null, '/proc/sys', null, 'bind,remount,ro,nosuid,nodev,noexec') > index(p, 'mount', '/proc/sys', '/proc/sys', null, 'bind'))
    assert.deepEqual(mountOf(p, '/sys').args, ['sysfs', '/sys', 'sysfs', 'ro,nosuid,nodev,noexec'])
    assert.deepEqual(mountOf(p, '/dev').args, ['tmpfs', '/dev', 'tmpfs', 'nosuid,strictatime', 'mode=0755'])
    assert.deepEqual(mountOf(p, '/dev/pts').args, ['devpts', '/dev/pts', 'devpts', 'nosuid,noexec', 'newinstance,ptmxmode=0666,mode=620,gid=5'])
    assert.deepEqual(mountOf(p, '/dev/shm').args, ['tmpfs', '/dev/shm', 'tmpfs', 'nosuid,nodev,strictatime', 'mode=01777'])
    assert.deepEqual(mountOf(p, '/dev/mqueue').args, ['mqueue', '/dev/mqueue', 'mqueue', 'nosuid,nodev,noexec'])
    assert.deepEqual(mountOf(p, '/run').args, ['tmpfs', '/run', 'tmpfs', 'nosuid,nodev,strictatime', 'mode=0755'])
    assert.deepEqual(mountOf(p, '/sys/fs/cgroup').args, ['cgroup2', '/sys/fs/cgroup', 'cgroup2', 'nosuid,nodev,noexec'])
    index(p, 'symlink', 'pts/ptmx', '/dev/ptmx')
    index(p, 'mknod', '/dev/null', 'c', '666', '1', '3')
    index(p, 'mknod', '/dev/net/tun', 'c', '666', '10', '200')
    index(p, 'symlink', '../net/tun', '/dev/char/10:200')
    index(p, 'attach', 'console', '/dev/console')
    assert.ok(!p.some((s) => s.args.some((a) => a === '/dev/kmsg')), 'no /dev/kmsg')
  })

  test('/run/host: the manager\'s files, inaccessible nodes, notify socket, then read-only', () => {
    const p = plan()
    index(p, 'write', '/run/host/container-manager', '444', 'machined-spawn\n')
    index(p, 'write', '/run/host/container-uuid', '444', '01234567-89ab-cdef-0123-456789abcdef\n')
    for (const [name, type] of INACCESSIBLE_NODES) {
      const path = `/run/host/inaccessible/${name}`
      const s = p.find((x) => x.args[0] === path)
      assert.ok(s !== undefined, path)
      assert.deepEqual(s, type === 'd' ? { op: 'mkdir', args: [path, '0'] } : { op: 'mknod', args: [path, type, '0', '0', '0'] })
    }
    const ro = index(p, 'mount', null, '/run/host', null, 'bind,remount,ro,nosuid,nodev,noexec')
    assert.ok(index(p, 'notify-socket', '/run/host/notify') < ro)
    assert.ok(index(p, 'mount', null, '/run/host/incoming', null, 'slave') < ro)
    for (const path of PROC_INACCESSIBLE) assert.equal(p[index(p, 'mount', '/run/host/inaccessible/reg', path, null, 'bind')]!.optional, true)
    index(p, 'mount', '/run/.machined-spawn-kmsg', '/proc/kmsg', null, 'bind')
    index(p, 'write', '/run/.machined-spawn-boot-id', '444', 'fedcba98-7654-3210-fedc-ba9876543210\n')
  })

  test('the cgroup namespace and the payload come after "go"; exec is last', () => {
    const p = plan()
    const go = index(p, 'wait-go')
    assert.equal(p[go + 1]!.op, 'unshare-cgroup')
    assert.ok(index(p, 'mount', 'cgroup2', '/sys/fs/cgroup', 'cgroup2', 'nosuid,nodev,noexec') > go)
    assert.ok(index(p, 'console', '/dev/console') > go)
    assert.ok(index(p, 'capbset-keep', BASE.capabilities.toString(16)) > index(p, 'console', '/dev/console'))
    assert.deepEqual(p.filter((s) => s.op === 'env').map((s) => s.args[0]), BASE.environment)
    assert.deepEqual(p[p.length - 1], { op: 'exec', args: ['/usr/lib/systemd/systemd', 'quiet'] })
    assert.ok(index(p, 'hostname', 'web') < go)
  })

  test('pipe mode: no console, the caller\'s stdio', () => {
    const p = plan({ consolePath: undefined })
    assert.ok(!p.some((s) => s.args.includes('console') || s.args.includes('/dev/console')))
    index(p, 'stdio')
  })

  test('a private network keeps /proc/sys/net writable and brings lo up', () => {
    const p = plan({ privateNetwork: true })
    assert.ok(index(p, 'mount', '/proc/sys/net', '/proc/sys/net', null, 'bind') < index(p, 'mount', null, '/proc/sys', null, 'bind,remount,ro,nosuid,nodev,noexec'))
    index(p, 'loopback-up')
    assert.ok(!plan().some((s) => s.op === 'loopback-up'))
  })

  test('a veth: host0 comes up once PID 1 may go on (the host makes the pair while it waits)', () => {
    const p = plan({ privateNetwork: true, networkVeth: true })
    assert.ok(index(p, 'wait-go') < index(p, 'link-up', 'host0'))
    assert.ok(!plan({ privateNetwork: true }).some((s) => s.op === 'link-up'))
  })

  test('bind mounts nest: shallow destinations first; files get a file to mount on', () => {
    const p = plan({ binds: [
      { source: '/h/deep', destination: '/a/b', readOnly: false, recursive: false, sourceIsDirectory: true },
      { source: '/h/top', destination: '/a', readOnly: false, recursive: true, sourceIsDirectory: true },
      { source: '/h/file', destination: '/etc/x.conf', readOnly: true, recursive: false, sourceIsDirectory: false },
    ] })
    assert.ok(index(p, 'attach', 'bind1', '/a') < index(p, 'attach', 'bind0', '/a/b'))
    index(p, 'clone-tree', 'bind0', '/h/deep', null)
    index(p, 'touch', '/etc/x.conf', '644')
    assert.deepEqual(p[index(p, 'attach', 'bind2', '/etc/x.conf') + 1], { op: 'remount-ro', args: ['/etc/x.conf'] })
  })
})

void describe('the plan on the wire', () => {
  test('fields are percent-encoded; "-" means none', () => {
    assert.equal(encodeField(null), '-')
    assert.equal(encodeField('-'), '%2D')
    assert.equal(encodeField(''), '%00')
    assert.equal(encodeField('/a b/c%d'), '/a%20b/c%25d')
    assert.equal(encodeField('line\nnext'), 'line%0Anext')
    assert.equal(encodeField('é'), '%C3%A9')
    assert.equal(encodeField('/run/.machined-spawn-kmsg'), '/run/.machined-spawn-kmsg')
  })

  test('one line per step, optional steps marked, a "." at the end', () => {
    assert.equal(encodeStep({ op: 'mount', args: [null, '/x y', null, 'bind'], optional: true }), '?mount - /x%20y - bind')
    const text = encodePlan(plan())
    assert.ok(text.endsWith('\n.\n'))
    assert.ok(text.split('\n').every((l) => !l.includes('\t')))
  })
})
