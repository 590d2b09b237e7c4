// The small pure parts of machined-spawn: the container's ID (A1.9), PID 1's
// environment (A1.1), the capability set (A1.4), os-release and notify
// parsing, time zone links and exit statuses.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chooseContainerId, idBytes, parseId128, parseMachineIdFile, uuidFromId } from '../../src/spawn/machine-id.ts'
import { containerEnvironment } from '../../src/spawn/environment.ts'
import { CAP, capabilityMask } from '../../src/spawn/capabilities.ts'
import { containerHostEnvironment, parseOsRelease } from '../../src/spawn/os-release.ts'
import { parseNotify, unescapeNotify } from '../../src/spawn/helper.ts'
import { syncTimezone, zoneFromLink } from '../../src/spawn/timezone.ts'
import { checkCommand, findInit, resolveInRoot } from '../../src/spawn/tree.ts'
import { GuestState, interpretExit } from '../../src/spawn/main.ts'

const ID = '0123456789abcdef0123456789abcdef'

void describe('machine ID', () => {
  test('parseId128 takes 32 hex digits or a UUID, never all zeros', () => {
    assert.equal(parseId128('0123456789ABCDEF0123456789ABCDEF'), ID)
    assert.equal(parseId128('01234567-89ab-cdef-0123-456789abcdef'), ID)
    assert.equal(parseId128('0'.repeat(32)), undefined)
    assert.equal(parseId128('0123456789abcdef'), undefined)
    assert.equal(uuidFromId(ID), '01234567-89ab-cdef-0123-456789abcdef')
    assert.deepEqual([...idBytes(ID).subarray(0, 3)], [0x01, 0x23, 0x45])
  })

  test('/etc/machine-id: missing, empty and "uninitialized" are unset; anything else malformed is invalid', () => {
    assert.deepEqual(parseMachineIdFile(undefined), { kind: 'unset', why: 'missing' })
    assert.deepEqual(parseMachineIdFile(''), { kind: 'unset', why: 'empty' })
    assert.deepEqual(parseMachineIdFile('\n'), { kind: 'unset', why: 'empty' })
    assert.deepEqual(parseMachineIdFile('uninitialized\n'), { kind: 'unset', why: 'uninitialized' })
    assert.deepEqual(parseMachineIdFile(`${ID.toUpperCase()}\n`), { kind: 'id', id: ID })
    assert.deepEqual(parseMachineIdFile(`${'0'.repeat(32)}\n`), { kind: 'invalid' })
    assert.deepEqual(parseMachineIdFile('garbage'), { kind: 'invalid' })
  })

  test('the tree\'s ID wins over --uuid, which wins over a random one (nspawn\'s setup_machine_id())', () => {
    const other = 'ffffffffffffffffffffffffffffffff'
    const random = (): string => '11111111-1111-4111-8111-111111111111'
    assert.deepEqual(chooseContainerId({ kind: 'id', id: ID }, other, random), { id: ID, source: 'image' })
    assert.deepEqual(chooseContainerId({ kind: 'unset', why: 'empty' }, other, random), { id: other, source: 'option' })
    assert.deepEqual(chooseContainerId({ kind: 'unset', why: 'missing' }, undefined, random), { id: '11111111111141118111111111111111', source: 'random' })
    assert.throws(() => chooseContainerId({ kind: 'invalid' }, undefined, random), /malformed/)
  })
})

void describe('PID 1\'s environment', () => {
  const base = { id: ID, boot: true, pty: true, callerEnv: { TERM: 'xterm', LANG: 'C.UTF-8', SECRET: 'no' }, containerHost: ['container_host_id=debian'], setenv: [] }

  test('the Container Interface variables and nothing of ours', () => {
    const env = containerEnvironment(base)
    assert.deepEqual(env, [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'container=machined-spawn', 'TERM=xterm',
      'HOME=/root', 'USER=root', 'LOGNAME=root', 'container_uuid=01234567-89ab-cdef-0123-456789abcdef',
      'NOTIFY_SOCKET=/run/host/notify', 'container_host_id=debian',
    ])
  })

  test('TERM defaults to vt220 on a pty; LANG only for a command; --setenv wins', () => {
    const env = containerEnvironment({ ...base, boot: false, callerEnv: { LANG: 'de_DE.UTF-8' }, setenv: ['TERM=dumb', 'X=1'] })
    assert.ok(env.includes('TERM=dumb') && !env.includes('TERM=vt220'))
    assert.ok(env.includes('LANG=de_DE.UTF-8') && env.includes('X=1'))
    assert.ok(containerEnvironment({ ...base, callerEnv: {} }).includes('TERM=vt220'))
    assert.ok(!containerEnvironment({ ...base, pty: false, callerEnv: {} }).some((e) => e.startsWith('TERM=')))
  })

  test('container_host_* from every os-release field, lower-cased (nspawn)', () => {
    const fields = parseOsRelease('# c\nNAME="Debian GNU/Linux"\nID=debian\nVERSION_ID=\'12\'\nPRETTY_NAME="a \\"q\\""\nbad line\n')
    assert.deepEqual([...fields], [['NAME', 'Debian GNU/Linux'], ['ID', 'debian'], ['VERSION_ID', '12'], ['PRETTY_NAME', 'a "q"']])
    assert.deepEqual(containerHostEnvironment(fields).slice(0, 2), ['container_host_name=Debian GNU/Linux', 'container_host_id=debian'])
  })
})

void describe('capabilities', () => {
  test('nspawn\'s retained set without the audit capabilities; NET_ADMIN only with a private network', () => {
    const mask = capabilityMask({ privateNetwork: false })
    const has = (c: number): boolean => ((mask >> BigInt(c)) & 1n) === 1n
    for (const c of [CAP.SYS_ADMIN, CAP.MKNOD, CAP.SYS_BOOT, CAP.SETPCAP, CAP.SYS_CHROOT]) assert.ok(has(c))
    for (const c of [CAP.AUDIT_WRITE, CAP.AUDIT_CONTROL, CAP.AUDIT_READ, CAP.NET_ADMIN, CAP.SYS_MODULE, CAP.SYS_TIME, CAP.SYS_RAWIO]) assert.ok(!has(c))
    assert.equal(mask.toString(16), '9decafff')
    assert.ok(((capabilityMask({ privateNetwork: true }) >> BigInt(CAP.NET_ADMIN)) & 1n) === 1n)
  })
})

void describe('notify, exit', () => {
  test('sd_notify datagrams as the helper escapes them', () => {
    assert.equal(unescapeNotify('READY=1\\nSTATUS=a\\\\b'), 'READY=1\nSTATUS=a\\b')
    assert.deepEqual([...parseNotify('READY=1\nSTATUS=Ready.\nX_SYSTEMD_UNIT_ACTIVE=multi-user.target')],
      [['READY', '1'], ['STATUS', 'Ready.'], ['X_SYSTEMD_UNIT_ACTIVE', 'multi-user.target']])
  })

  test('what an ended container means (nspawn\'s wait_for_container())', () => {
    assert.deepEqual(interpretExit('c', { kind: 'exited', code: 0 }), { code: 0, message: 'Container c exited successfully.', reboot: false })
    assert.deepEqual(interpretExit('c', { kind: 'exited', code: 42 }), { code: 42, message: 'Container c failed with error code 42.', reboot: false })
    assert.deepEqual(interpretExit('c', { kind: 'killed', signal: 2 }), { code: 0, message: 'Container c has been shut down.', reboot: false })
    assert.equal(interpretExit('c', { kind: 'killed', signal: 1 }).reboot, true)
    assert.deepEqual(interpretExit('c', { kind: 'killed', signal: 9 }), { code: 1, message: 'Container c terminated by signal SIGKILL.', reboot: false })
    assert.equal(interpretExit('c', { kind: 'lost' }).code, 1)
    // What the guest said on the notify socket wins over the signal.
    assert.equal(interpretExit('c', { kind: 'killed', signal: 2 }, 'reboot').reboot, true)
    assert.equal(interpretExit('c', { kind: 'killed', signal: 1 }, 'poweroff').reboot, false)
    assert.equal(interpretExit('c', { kind: 'exited', code: 3 }, 'poweroff').code, 3)
  })

  test('the guest\'s notify messages', () => {
    const g = new GuestState()
    assert.equal(g.ready, false)
    g.update(new Map([['STATUS', 'Starting…']]))
    g.update(new Map([['READY', '1'], ['STATUS', 'Ready.']]))
    assert.equal(g.ready, true)
    assert.equal(g.status, 'Ready.')
    g.update(new Map([['EXIT_STATUS', '0'], ['X_SYSTEMD_SHUTDOWN', 'poweroff']]))
    assert.equal(g.shutdown, 'poweroff')
  })
})

void describe('the tree', () => {
  test('paths resolve inside the tree, absolute links included; init candidates in nspawn\'s order', () => {
    const root = mkdtempSync(join(tmpdir(), 'spawn-tree-'))
    try {
      mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true })
      mkdirSync(join(root, 'sbin'))
      writeFileSync(join(root, 'usr/lib/systemd/systemd'), '#!/bin/sh\n', { mode: 0o755 })
      symlinkSync('usr/lib', join(root, 'lib'))
      symlinkSync('/lib/systemd/systemd', join(root, 'sbin/init'))
      symlinkSync('/etc/passwd', join(root, 'escape'))
      assert.equal(resolveInRoot(root, '/sbin/init'), join(root, 'usr/lib/systemd/systemd'))
      assert.equal(resolveInRoot(root, '/escape'), undefined, 'a link to /etc/passwd means the tree\'s, which is missing')
      assert.equal(resolveInRoot(root, '/usr/../sbin'), join(root, 'sbin'))
      assert.equal(resolveInRoot(root, '/lib/../sbin'), undefined, '.. after a link goes up from where it points: /usr/sbin')
      assert.equal(findInit(root, root), '/usr/lib/systemd/systemd')
      assert.doesNotThrow(() => checkCommand(root, 'systemd', '/nowhere:/lib/systemd'), 'found along PATH, through the lib link')
      assert.doesNotThrow(() => checkCommand(root, '/sbin/init', ''))
      assert.throws(() => checkCommand(root, 'ls', '/usr/bin:/bin'), /^Error: Failed to execute ls: No such file or directory$/)
      rmSync(join(root, 'usr/lib/systemd/systemd'))
      assert.throws(() => findInit(root, '/t'), /^Error: Directory \/t has no init to boot/)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  test('/etc/localtime becomes a relative link to the host\'s zone (nspawn --timezone=auto)', () => {
    assert.equal(zoneFromLink('/usr/share/zoneinfo/Europe/Berlin'), 'Europe/Berlin')
    assert.equal(zoneFromLink('../usr/share/zoneinfo/Etc/UTC'), 'Etc/UTC')
    assert.equal(zoneFromLink('/etc/foo'), undefined)
    assert.equal(zoneFromLink('/usr/share/zoneinfo/../x'), undefined)
    const root = mkdtempSync(join(tmpdir(), 'spawn-tz-'))
    try {
      mkdirSync(join(root, 'usr/share/zoneinfo/Europe'), { recursive: true })
      mkdirSync(join(root, 'etc'))
      writeFileSync(join(root, 'usr/share/zoneinfo/Europe/Berlin'), 'TZif')
      symlinkSync('/usr/share/zoneinfo/Etc/UTC', join(root, 'etc/localtime'))
      const host = join(root, 'host-localtime')
      symlinkSync('/usr/share/zoneinfo/Europe/Berlin', host)
      assert.equal(syncTimezone(root, host), 'linked')
      assert.equal(syncTimezone(root, host), 'unchanged')
      const other = join(root, 'host-other')
      symlinkSync('/usr/share/zoneinfo/Asia/Tokyo', other)
      assert.equal(syncTimezone(root, other), 'skipped', 'the guest has no such zone')
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
})
