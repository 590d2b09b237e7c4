// The SASL handshake and bus addresses: what we send must be what
// dbus-daemon and sd-bus expect (a NUL, AUTH EXTERNAL <hex of the uid in
// ASCII>, NEGOTIATE_UNIX_FD, BEGIN, all at once as sd-bus sends them), the
// answers must be read in that order, and refusals must be AuthErrors.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { parseAddress } from '../../src/wire/dbus/address.ts'
import { hexUid, SaslClient } from '../../src/wire/dbus/auth.ts'
import { AuthError } from '../../src/wire/dbus/errors.ts'

const GUID = '3de619a02dee3b9f69ad301b6b06f90f'
const line = (s: string): Buffer => Buffer.from(`${s}\r\n`)

void describe('SaslClient', () => {
  void test('uid as hex-encoded ASCII decimal', () => {
    assert.equal(hexUid(0), '30')
    assert.equal(hexUid(1000), '31303030')
  })

  void test('the whole exchange with fd passing', () => {
    const c = new SaslClient({ uid: 1000, negotiateUnixFd: true })
    assert.equal(c.start(), '\0AUTH EXTERNAL 31303030\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n')
    assert.deepEqual(c.feed(line(`OK ${GUID}`)), {})
    assert.deepEqual(c.feed(line('AGREE_UNIX_FD')), { result: { guid: GUID, unixFd: true } })
  })

  void test('without fd passing', () => {
    const c = new SaslClient({ uid: 0, negotiateUnixFd: false })
    assert.equal(c.start(), '\0AUTH EXTERNAL 30\r\nBEGIN\r\n')
    assert.deepEqual(c.feed(line(`OK ${GUID}`)), { result: { guid: GUID, unixFd: false } })
  })

  void test('a bus that cannot pass fds answers ERROR, and we go on without', () => {
    const c = new SaslClient({ uid: 0, negotiateUnixFd: true })
    c.start()
    assert.deepEqual(c.feed(line(`OK ${GUID}`)), {})
    assert.deepEqual(c.feed(line('ERROR "no fds here"')), { result: { guid: GUID, unixFd: false } })
  })

  void test('lines split across chunks and several lines in one chunk', () => {
    const c = new SaslClient({ uid: 0, negotiateUnixFd: true })
    c.start()
    assert.deepEqual(c.feed(Buffer.from('OK 3de619a02dee3b9f')), {})
    const step = c.feed(Buffer.from('69ad301b6b06f90f\r\nAGREE_UNIX_FD\r\n\x6c\x02'))
    assert.deepEqual(step.result, { guid: GUID, unixFd: true })
    assert.deepEqual([...step.rest!], [0x6c, 0x02])
  })

  void test('refusals and nonsense are AuthErrors', () => {
    const refused = new SaslClient({ uid: 0, negotiateUnixFd: true })
    refused.start()
    assert.throws(() => refused.feed(line('REJECTED ANONYMOUS')), AuthError)
    const nonsense = new SaslClient({ uid: 0, negotiateUnixFd: true })
    nonsense.start()
    assert.throws(() => nonsense.feed(line('HELLO')), AuthError)
    // AGREE_UNIX_FD before OK is out of order: fds are never taken as agreed without it.
    const early = new SaslClient({ uid: 0, negotiateUnixFd: true })
    early.start()
    assert.throws(() => early.feed(line('AGREE_UNIX_FD')), AuthError)
    const agreedUnasked = new SaslClient({ uid: 0, negotiateUnixFd: false })
    agreedUnasked.start()
    assert.deepEqual(agreedUnasked.feed(Buffer.from(`OK ${GUID}\r\nAGREE_UNIX_FD\r\n`)).result, { guid: GUID, unixFd: false })
    const badGuid = new SaslClient({ uid: 0, negotiateUnixFd: true })
    badGuid.start()
    assert.throws(() => badGuid.feed(line('OK xyz')), AuthError)
    const endless = new SaslClient({ uid: 0, negotiateUnixFd: true })
    endless.start()
    assert.throws(() => endless.feed(Buffer.alloc(20000, 0x41)), AuthError)
  })
})

void describe('parseAddress', () => {
  void test('unix path and abstract sockets, with escapes', () => {
    assert.deepEqual(parseAddress('unix:path=/run/dbus/system_bus_socket').map((a) => a.socketPath), ['/run/dbus/system_bus_socket'])
    assert.deepEqual(parseAddress('unix:path=/tmp/a%20b,guid=123').map((a) => a.socketPath), ['/tmp/a b'])
    assert.deepEqual(parseAddress('unix:abstract=/tmp/dbus-x').map((a) => a.socketPath), ['\0/tmp/dbus-x'])
  })

  void test('several entries, unsupported ones skipped', () => {
    assert.deepEqual(parseAddress('tcp:host=x,port=1;unix:path=/a;unix:path=/b').map((a) => a.socketPath), ['/a', '/b'])
  })

  void test('nothing usable is an error', () => {
    assert.throws(() => parseAddress('tcp:host=x,port=1'), /No usable D-Bus address/)
    assert.throws(() => parseAddress('nonsense'), /no transport/)
    assert.throws(() => parseAddress('unix:path'), /not key=value/)
    assert.throws(() => parseAddress('unix:tmpdir=/tmp'), /No usable/)
  })
})
