// The qemu command line machined-vmspawn runs: always a q35 machine with
// SMBIOS and the VM's UUID as SMBIOS type 1 UUID; vmspawn's devices and
// escaping; console=ttyS0 first on the kernel command line.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { buildQemuArgv, kernelCommandLine, qemuEscape } from '../../src/vmspawn/qemu-argv.ts'
import { probeArgv } from '../../src/vmspawn/accel.ts'

const BASE = {
  binary: '/usr/bin/qemu-system-x86_64', accel: 'tcg', uuid: '01234567-89ab-4def-8123-456789abcdef', cpus: 2, ramMiB: 1024,
  qmpSocket: '/run/machined-vmspawn/42/qmp.sock',
} as const

/** The value after each occurrence of `flag`. */
function values(argv: string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []))
}

describe('qemu argv', () => {
  test('direct kernel boot: the whole command line', () => {
    assert.deepEqual(buildQemuArgv({ ...BASE, kernel: '/boot/vmlinuz', initrd: '/boot/initrd', append: 'rdinit=/lib/systemd/systemd' }), [
      '/usr/bin/qemu-system-x86_64',
      '-machine', 'type=q35', '-accel', 'tcg', '-cpu', 'max', '-smp', '2', '-m', '1024M',
      '-nographic', '-nodefaults', '-no-user-config', '-nic', 'none',
      '-object', 'rng-random,filename=/dev/urandom,id=rng0', '-device', 'virtio-rng-pci,rng=rng0,id=rng-device0',
      '-smbios', 'type=1,uuid=01234567-89ab-4def-8123-456789abcdef',
      '-chardev', 'stdio,id=console,signal=off', '-serial', 'chardev:console',
      '-chardev', 'socket,id=qmp,path=/run/machined-vmspawn/42/qmp.sock', '-mon', 'chardev=qmp,mode=control',
      '-kernel', '/boot/vmlinuz', '-initrd', '/boot/initrd', '-append', 'console=ttyS0 rdinit=/lib/systemd/systemd',
    ])
  })

  test('a disk image on virtio-blk, raw or qcow2, booted by the firmware; no kernel options then', () => {
    const argv = buildQemuArgv({ ...BASE, accel: 'kvm', image: { path: '/srv/a,b.qcow2', format: 'qcow2' } })
    assert.deepEqual(values(argv, '-drive'), ['if=none,id=disk0,file=/srv/a,,b.qcow2,format=qcow2,discard=unmap'])
    assert.ok(values(argv, '-device').includes('virtio-blk-pci,drive=disk0,bootindex=1'))
    assert.deepEqual(values(argv, '-accel'), ['kvm'])
    assert.equal(argv.includes('-kernel'), false)
    assert.equal(argv.includes('-append'), false)
  })

  test('with a vsock channel: the vhost-vsock device on the passed fd, and the notify credential over SMBIOS type 11', () => {
    const argv = buildQemuArgv({ ...BASE, kernel: '/k', vsock: { cid: 42, vhostFd: 3, notifySocket: 'vsock-stream:2:1234' } })
    assert.ok(values(argv, '-device').includes('vhost-vsock-pci,guest-cid=42,vhostfd=3'))
    assert.deepEqual(values(argv, '-smbios'), [`type=1,uuid=${BASE.uuid}`, 'type=11,value=io.systemd.credential:vmm.notify_socket=vsock-stream:2:1234'])
    const none = buildQemuArgv({ ...BASE, kernel: '/k' })
    assert.equal(values(none, '-device').some((d) => d.startsWith('vhost-vsock')), false)
    assert.deepEqual(values(none, '-smbios'), [`type=1,uuid=${BASE.uuid}`])
  })

  test('the SMBIOS UUID is always there, exactly once, and the machine type always has SMBIOS', () => {
    const argv = buildQemuArgv({ ...BASE, image: { path: '/d', format: 'raw' } })
    assert.deepEqual(values(argv, '-smbios'), [`type=1,uuid=${BASE.uuid}`])
    assert.deepEqual(values(argv, '-machine'), ['type=q35'])
  })

  test('escaping and the kernel command line', () => {
    assert.equal(qemuEscape('a,b,,c'), 'a,,b,,,,c')
    assert.equal(kernelCommandLine(undefined), 'console=ttyS0')
    assert.equal(kernelCommandLine('  '), 'console=ttyS0')
    assert.equal(kernelCommandLine(' quiet  rw '), 'console=ttyS0 quiet  rw')
    assert.deepEqual(values(buildQemuArgv({ ...BASE, qmpSocket: '/tmp/a,b/qmp' }), '-chardev')[1], 'socket,id=qmp,path=/tmp/a,,b/qmp')
  })

  test('the KVM probe boots the same machine type and CPU model under KVM, without initrd', () => {
    const argv = probeArgv('/usr/bin/qemu-system-x86_64', '/k')
    assert.deepEqual(values(argv, '-machine'), ['type=q35'])
    assert.deepEqual(values(argv, '-accel'), ['kvm'])
    assert.deepEqual(values(argv, '-cpu'), ['max'])
    assert.deepEqual(values(argv, '-kernel'), ['/k'])
    assert.equal(argv.includes('-initrd'), false)
    assert.ok(argv.includes('-no-reboot'))
    assert.match(values(argv, '-append')[0]!, /^console=ttyS0 earlyprintk=serial,ttyS0,115200/)
  })
})
