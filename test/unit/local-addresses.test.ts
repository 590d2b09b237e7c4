// A network namespace's addresses: the kernel's RTM_GETADDR dump read by
// the addon (native/addon/netlink.c), and the list machined makes of it
// (machineAddressesOf(), local_addresses()'s filter and order).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readlinkSync } from 'node:fs'
import { machineAddressesOf } from '../../src/backends/inspector.ts'
import { localAddresses, type KernelAddress } from '../../src/native/local-addresses.ts'
import { formatAddress } from '../../src/protocol/address.ts'
import { needsRoot } from '../helpers/privilege.ts'

const v4 = (...b: number[]): Uint8Array => Uint8Array.from(b)
const v6 = (...groups: number[]): Uint8Array => Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]))
const text = (list: readonly { family: number; address: Uint8Array }[]): string[] => list.map((a) => formatAddress(a.family, a.address))

void describe('machineAddressesOf', () => {
  void test('leaves out deprecated, host- and nowhere-scope addresses; IPv4 first, then scope, interface and address', () => {
    const kernel: KernelAddress[] = [
      { family: 10, scope: 0, flags: 0x80, ifindex: 2, address: v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2) },
      { family: 2, scope: 253, flags: 0x80, ifindex: 2, address: v4(169, 254, 1, 1) },
      { family: 2, scope: 254, flags: 0x80, ifindex: 1, address: v4(127, 0, 0, 1) },
      { family: 10, scope: 254, flags: 0x80, ifindex: 1, address: v6(0, 0, 0, 0, 0, 0, 0, 1) },
      { family: 2, scope: 0, flags: 0x80, ifindex: 3, address: v4(10, 0, 0, 3) },
      { family: 2, scope: 0, flags: 0x80, ifindex: 2, address: v4(10, 0, 0, 9) },
      { family: 2, scope: 0, flags: 0x80, ifindex: 2, address: v4(10, 0, 0, 2) },
      { family: 10, scope: 0, flags: 0x20, ifindex: 2, address: v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1) },
      { family: 10, scope: 253, flags: 0, ifindex: 2, address: v6(0xfe80, 0, 0, 0, 0, 0, 0, 1) },
      { family: 2, scope: 255, flags: 0, ifindex: 4, address: v4(10, 9, 9, 9) },
    ]
    assert.deepEqual(text(machineAddressesOf(kernel)), ['10.0.0.2', '10.0.0.9', '10.0.0.3', '169.254.1.1', '2001:db8::2', 'fe80::1'])
  })
})

interface IpAddress { family: string; local: string; scope?: string }

void describe('localAddresses', () => {
  void test('lists what `ip address` lists for our own namespace', async () => {
    const ip = (JSON.parse(execFileSync('ip', ['-j', 'address', 'show'], { encoding: 'utf8' })) as { addr_info?: IpAddress[] }[])
      .flatMap((link) => link.addr_info ?? []).filter((a) => a.family === 'inet' || a.family === 'inet6')
    const ours = await localAddresses(undefined, 65536)
    assert.deepEqual(text(ours).sort(), ip.map((a) => a.local).sort())
  })

  void describe('another namespace', needsRoot, () => {
    let child: ChildProcess
    let netns: string
    before(async () => {
      child = spawn('unshare', ['-n', 'sh', '-c', 'ip link set lo up && ip addr add 192.0.2.7/32 dev lo && ip addr add 2001:db8::5/64 dev lo nodad && echo ready && exec sleep 1000'],
        { stdio: ['ignore', 'pipe', 'inherit'] })
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve())
        child.once('exit', (code) => reject(new Error(`unshare exited with ${code}`)))
      })
      netns = `/proc/${child.pid}/ns/net`
    })
    after(() => { child.kill('SIGKILL') })

    void test('is read through a socket made inside it, and no thread of ours stays there', async () => {
      const theirs = await localAddresses(netns, 65536)
      assert.deepEqual(text(machineAddressesOf(theirs)), ['192.0.2.7', '2001:db8::5'])
      assert.ok(text(theirs).includes('127.0.0.1'), 'the unfiltered list has the loopback address too')
      const own = readlinkSync('/proc/self/ns/net')
      for (const task of readdirSync('/proc/self/task')) assert.equal(readlinkSync(`/proc/self/task/${task}/ns/net`), own, `thread ${task}`)
    })

    void test('more addresses than allowed is ENOBUFS, not a longer list', async () => {
      await assert.rejects(localAddresses(netns, 2), { code: 'ENOBUFS' })
    })

    void test('a file that is no network namespace is EINVAL; a process that is gone, ENOENT', async () => {
      await assert.rejects(localAddresses('/proc/self/ns/mnt', 16), { code: 'EINVAL', syscall: 'setns' })
      await assert.rejects(localAddresses('/proc/0/ns/net', 16), { code: 'ENOENT', syscall: 'open' })
    })
  })
})
