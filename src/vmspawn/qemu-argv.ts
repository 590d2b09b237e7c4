/**
 * The qemu command line, built from resolved settings (no I/O). The shape
 * is systemd-vmspawn's run_virtual_machine(): a q35 machine, `-cpu max`,
 * `-nographic -nodefaults`, no network, a virtio RNG, the serial port as the
 * console, ',' doubled inside option values (escape_qemu_value), and
 * `console=ttyS0` first on a direct-boot kernel command line. Where we
 * differ: the SMBIOS UUID is always set (`-smbios type=1,uuid=`), the
 * serial console is qemu's stdio (the launcher forwards it), and QMP is a
 * socket the launcher listens on before qemu starts (vmspawn passes a
 * socketpair fd, which Node cannot make). The vsock device and the
 * `vmm.notify_socket` credential are vmspawn's (./vsock-channel.ts).
 * @module
 */

/** A machine type with SMBIOS tables (microvm has none, so the guest would see no product UUID). */
export const MACHINE_TYPE = 'q35'
export const SERIAL_TTY = 'ttyS0'

export type DiskFormat = 'raw' | 'qcow2'

export interface QemuConfig {
  readonly binary: string
  readonly accel: 'kvm' | 'tcg'
  /** Canonical UUID form: what the guest reads back from product_uuid. */
  readonly uuid: string
  readonly cpus: number
  readonly ramMiB: number
  readonly kernel?: string | undefined
  readonly initrd?: string | undefined
  readonly append?: string | undefined
  readonly image?: { readonly path: string; readonly format: DiskFormat } | undefined
  /** The guest's vsock device (its /dev/vhost-vsock fd as qemu sees it) and the notify credential's value. */
  readonly vsock?: { readonly cid: number; readonly vhostFd: number; readonly notifySocket: string } | undefined
  /** A Unix socket the launcher listens on; qemu connects to it as its QMP monitor. */
  readonly qmpSocket: string
}

/** qemu's option syntax splits values at ','; a literal comma is written twice. */
export function qemuEscape(value: string): string {
  return value.replaceAll(',', ',,')
}

/** The direct-boot kernel command line: our serial console first, then the caller's words. */
export function kernelCommandLine(append: string | undefined): string {
  const extra = append?.trim() ?? ''
  return extra === '' ? `console=${SERIAL_TTY}` : `console=${SERIAL_TTY} ${extra}`
}

export function buildQemuArgv(c: QemuConfig): string[] {
  const argv = [
    c.binary,
    '-machine', `type=${MACHINE_TYPE}`,
    '-accel', c.accel,
    '-cpu', 'max',
    '-smp', String(c.cpus),
    '-m', `${c.ramMiB}M`,
    '-nographic', '-nodefaults', '-no-user-config',
    '-nic', 'none',
    '-object', 'rng-random,filename=/dev/urandom,id=rng0',
    '-device', 'virtio-rng-pci,rng=rng0,id=rng-device0',
    // SMBIOS type 1 "System Information": the guest's product_uuid, hence its machine-id.
    '-smbios', `type=1,uuid=${c.uuid}`,
    // signal=off: a ^C byte from the console is the guest's, never qemu's SIGINT.
    '-chardev', 'stdio,id=console,signal=off',
    '-serial', 'chardev:console',
    '-chardev', `socket,id=qmp,path=${qemuEscape(c.qmpSocket)}`,
    '-mon', 'chardev=qmp,mode=control',
  ]
  if (c.vsock !== undefined) {
    argv.push(
      '-device', `vhost-vsock-pci,guest-cid=${c.vsock.cid},vhostfd=${c.vsock.vhostFd}`,
      // SMBIOS type 11 "OEM strings": systemd imports io.systemd.credential:NAME=VALUE as a system credential.
      '-smbios', `type=11,value=io.systemd.credential:vmm.notify_socket=${qemuEscape(c.vsock.notifySocket)}`,
    )
  }
  if (c.image !== undefined) {
    argv.push(
      '-drive', `if=none,id=disk0,file=${qemuEscape(c.image.path)},format=${c.image.format},discard=unmap`,
      '-device', `virtio-blk-pci,drive=disk0,bootindex=1`,
    )
  }
  if (c.kernel !== undefined) {
    argv.push('-kernel', c.kernel)
    if (c.initrd !== undefined) argv.push('-initrd', c.initrd)
    argv.push('-append', kernelCommandLine(c.append))
  }
  return argv
}
