// machined-web's pure parts: the process tree, its command line, and the
// access rules' pieces (sessions, cookies, the Origin rule). The cgroup
// readers it shares with mctl are tested in linux-cgroup-stats.test.ts.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Access, cookieValue, secretMatches, Sessions } from '../../src/web/access.ts'
import { processTree } from '../../src/web/machine-facts.ts'
import { main } from '../../src/web/main.ts'
import { parseListen, parseWebArgs, UsageError } from '../../src/web/options.ts'

void describe('machined-web: the process tree', () => {
  it('nests the unit\'s processes by cgroup as mctl status draws them: PIDs in order, child cgroups by name', () => {
    const root = '/machine.slice/machine-x.scope'
    const tree = processTree(root, [
      { cgroup: `${root}/system.slice/b.service`, pid: 30, name: 'b' },
      { cgroup: root, pid: 12, name: 'sh' },
      { cgroup: `${root}/init.scope`, pid: 1, name: 'init' },
      { cgroup: root, pid: 11, name: 'leader' },
      { cgroup: `${root}/system.slice/a.service`, pid: 20, name: 'a' },
    ])
    assert.deepEqual(tree, {
      cgroup: root,
      processes: [{ pid: 11, command: 'leader' }, { pid: 12, command: 'sh' }],
      children: [
        { cgroup: `${root}/init.scope`, processes: [{ pid: 1, command: 'init' }], children: [] },
        {
          cgroup: `${root}/system.slice`, processes: [], children: [
            { cgroup: `${root}/system.slice/a.service`, processes: [{ pid: 20, command: 'a' }], children: [] },
            { cgroup: `${root}/system.slice/b.service`, processes: [{ pid: 30, command: 'b' }], children: [] },
          ],
        },
      ],
    })
    assert.deepEqual(processTree(root, []), { cgroup: root, processes: [], children: [] })
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

  it('--fleet-etcd and its TLS and auth options; those without it are refused, and a bad URL stops it in one line', async () => {
    const none = parseWebArgs([])
    assert.ok('options' in none)
    assert.equal(none.options.fleet, undefined)
    const fleet = parseWebArgs(['--fleet-etcd=https://e1:2379,https://e2', '--fleet-etcd-ca=/ca.pem', '--fleet-etcd-user=web'])
    assert.ok('options' in fleet)
    assert.deepEqual(fleet.options.fleet, { endpoints: 'https://e1:2379,https://e2', ca: '/ca.pem', cert: undefined, key: undefined, user: 'web', passwordFile: undefined })
    assert.throws(() => parseWebArgs(['--fleet-etcd-ca=/ca.pem']), /--fleet-etcd-ca needs --fleet-etcd/)
    const lines: string[] = []
    const write = process.stderr.write.bind(process.stderr)
    process.stderr.write = ((chunk: string) => { lines.push(chunk); return true })
    try {
      assert.equal(await main(['--fleet-etcd=ftp://etcd1', '--runtime-dir=/nonexistent/never-made']), 1)
    } finally {
      process.stderr.write = write
    }
    assert.deepEqual(lines, ["machined-web: Invalid --fleet-etcd URL 'ftp://etcd1': the scheme must be http or https\n"])
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
