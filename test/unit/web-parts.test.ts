// machined-web's pure parts: reading cgroup files, its command line, and
// the access rules' pieces (sessions, cookies, the Origin rule).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Access, cookieValue, secretMatches, Sessions } from '../../src/web/access.ts'
import { keyedValue, parseBlkioServiceBytes, parseCgroupMounts, parseIoStat } from '../../src/web/cgroup-stats.ts'
import { parseListen, parseWebArgs, UsageError } from '../../src/web/options.ts'

const HYBRID = [
  '30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
  '31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
  '32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd',
  '35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct',
  '36 30 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory',
  '37 30 0:33 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids',
  '38 30 0:34 / /sys/fs/cgroup/with\\040space rw - cgroup cgroup rw,blkio',
].join('\n')

void describe('machined-web: cgroup files', () => {
  it('finds cgroup2 and each v1 controller\'s hierarchy, co-mounted ones and escaped paths included', () => {
    const m = parseCgroupMounts(HYBRID)
    assert.equal(m.unified, '/sys/fs/cgroup/unified')
    assert.deepEqual(Object.fromEntries(m.v1), {
      'name=systemd': '/sys/fs/cgroup/systemd', cpuacct: '/sys/fs/cgroup/cpu,cpuacct', memory: '/sys/fs/cgroup/memory',
      pids: '/sys/fs/cgroup/pids', blkio: '/sys/fs/cgroup/with space',
    })
    const pure = parseCgroupMounts('40 1 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw')
    assert.equal(pure.unified, '/sys/fs/cgroup')
    assert.equal(pure.v1.size, 0)
  })

  it('reads keyed values, io.stat and blkio byte counts', () => {
    assert.equal(keyedValue('usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n', 'usage_usec'), 1234)
    assert.equal(keyedValue('usage_usec_x 1\n', 'usage_usec'), undefined)
    assert.deepEqual(parseIoStat('8:0 rbytes=100 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=5 wbytes=7 rios=1 wios=1 dbytes=0 dios=0\n'), { read: 105, write: 27 })
    assert.deepEqual(parseIoStat(''), { read: 0, write: 0 })
    assert.deepEqual(parseBlkioServiceBytes('8:0 Read 100\n8:0 Write 20\n8:0 Sync 3\n8:0 Total 123\n8:16 Read 5\nTotal 128\n'), { read: 105, write: 20 })
  })
})

void describe('machined-web: command line', () => {
  it('takes HOST:PORT, [IPV6]:PORT and socket paths', () => {
    assert.deepEqual(parseListen('127.0.0.1:9091'), { kind: 'tcp', host: '127.0.0.1', port: 9091 })
    assert.deepEqual(parseListen('[::1]:80'), { kind: 'tcp', host: '::1', port: 80 })
    assert.deepEqual(parseListen('/run/web.sock'), { kind: 'unix', path: '/run/web.sock' })
    for (const bad of ['9091', 'host:99999', '::1:80', 'relative/path', '']) assert.throws(() => parseListen(bad), UsageError, bad)
  })

  it('defaults, and refuses what makes no sense', () => {
    const parsed = parseWebArgs([])
    assert.ok('options' in parsed)
    assert.deepEqual(parsed.options.listen, { kind: 'tcp', host: '127.0.0.1', port: 9091 })
    assert.equal(parsed.options.varlinkSocket, '/run/machined-web/io.machinedts.Metrics')
    assert.equal(parsed.options.sessionLifetimeMs, 43_200_000)
    assert.throws(() => parseWebArgs(['--tls-cert=c.pem']), /go together/)
    assert.throws(() => parseWebArgs(['--max-terminals=0']), UsageError)
    assert.throws(() => parseWebArgs(['--transport=http']), UsageError)
    assert.throws(() => parseWebArgs(['extra']), UsageError)
    assert.deepEqual(parseWebArgs(['--help']), { help: true })
  })
})

void describe('machined-web: access pieces', () => {
  it('sessions expire, can be closed, and are capped (the oldest goes)', () => {
    const s = new Sessions(1000)
    const id = s.open(0)
    assert.equal(s.valid(id, 999), true)
    assert.equal(s.valid(id, 1000), false)
    assert.equal(s.valid(id, 10), false, 'an expired session is forgotten')
    const other = s.open(0)
    s.close(other)
    assert.equal(s.valid(other, 1), false)
    const first = s.open(0)
    for (let i = 0; i < 256; i++) s.open(0)
    assert.equal(s.valid(first, 1), false)
  })

  it('reads cookies and compares secrets whatever their length', () => {
    assert.equal(cookieValue('a=1; machined_web_session=xyz; b=2', 'machined_web_session'), 'xyz')
    assert.equal(cookieValue('xmachined_web_session=1', 'machined_web_session'), undefined)
    assert.equal(cookieValue(undefined, 'a'), undefined)
    assert.equal(secretMatches('abc', 'abc'), true)
    assert.equal(secretMatches('abc', 'abcd'), false)
    assert.equal(secretMatches('', 'abc'), false)
  })

  it('lets a request in by token or session; state changes only from the served origin', () => {
    const sessions = new Sessions(60_000)
    const a = new Access('tok', sessions, 'http')
    const id = sessions.open()
    const base = { host: '127.0.0.1:9091', origin: undefined, cookie: undefined, authorization: undefined }
    assert.equal(a.authenticate({ ...base, authorization: 'Bearer tok' }), 'bearer')
    assert.equal(a.authenticate({ ...base, authorization: 'Bearer nope' }), undefined)
    assert.equal(a.authenticate({ ...base, cookie: `machined_web_session=${id}` }), 'cookie')
    assert.equal(a.authenticate(base), undefined)
    assert.equal(a.sameOrigin({ ...base, origin: 'http://127.0.0.1:9091' }, 'cookie'), true)
    assert.equal(a.sameOrigin({ ...base, origin: 'https://127.0.0.1:9091' }, 'cookie'), false)
    assert.equal(a.sameOrigin({ ...base, origin: 'http://evil.example' }, 'bearer'), false)
    assert.equal(a.sameOrigin(base, 'cookie'), false, 'a cookie without an Origin')
    assert.equal(a.sameOrigin(base, 'bearer'), true, 'a script with the token')
  })
})
