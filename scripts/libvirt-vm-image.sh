#!/usr/bin/env bash
# Builds (once) the VM that test/e2e/libvirt-vm.test.ts boots, and prints
# where it is:
#
#   KERNEL=/var/tmp/machined-ts/libvirt-vm-<hash>/vmlinuz
#   INITRD=/var/tmp/machined-ts/libvirt-vm-<hash>/initrd.cpio
#   ROOT=/var/tmp/machined-ts/libvirt-vm-<hash>/root.img
#   APPEND=<the kernel command line the image needs, besides console=>
#
#   scripts/libvirt-vm-image.sh GUEST_TREE
#
# GUEST_TREE is the systemd guest's Debian tree (test/helpers/systemd-guest.ts
# builds it: systemd, libvirt's LXC driver, systemd-machined masked). Why a
# VM: a VM has its own kernel, so its systemd boots pure cgroup2 with every
# controller on it, whatever the host binds to cgroup v1; libvirt's LXC driver
# needs those controllers on cgroup2 (docs/compat.md, "libvirt").
#
# The image: Debian's cloud kernel, the guest tree and the host's `node` as
# /usr/bin/node on an ext4 image (mke2fs -d, no mount needed), and a small
# initrd (the tree's static busybox, and the modules the guest needs, loaded
# there since the tree has neither udev nor kmod: virtio block, and fuse for
# libvirt_lxc's /proc/meminfo; ext4 is built into the kernel) that mounts /dev/vda and switches to the tree's
# systemd. A unit in the image mounts the second disk (/dev/vdb, made per
# run by the test: the checkout and a scenario) read-only at
# /opt/machined-ts and runs its `scenario.sh`. Boot the root with qemu's
# -snapshot: the cached image is never written.
#
# The cache directory's name carries a hash of this script, the tree's
# directory name (its recipe) and the kernel package: changing one rebuilds.
# Needs root, apt-get, dpkg-deb, cpio, mke2fs.
set -euo pipefail

TREE=${1:?usage: libvirt-vm-image.sh GUEST_TREE}
CACHE_ROOT=${MACHINED_TS_CACHE:-/var/tmp/machined-ts}
HERE=$(cd "$(dirname "$0")" && pwd)
NODE_BIN=$(command -v node)
[[ -d "$TREE/usr/lib/libvirt" ]] || { echo "libvirt-vm-image: $TREE is not the systemd guest tree (no libvirt)" >&2; exit 1; }
KPKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
[[ -n "$KPKG" ]] || { echo "libvirt-vm-image: no linux-image-*-cloud-amd64 in the apt lists (run apt-get update)" >&2; exit 1; }
HASH=$( (cat "$HERE/libvirt-vm-image.sh"; basename "$TREE"; echo "$KPKG"; "$NODE_BIN" --version) | sha256sum | cut -c1-12)
OUT="$CACHE_ROOT/libvirt-vm-$HASH"
APPEND="root=/dev/vda"

report() {
  echo "KERNEL=$OUT/vmlinuz"
  echo "INITRD=$OUT/initrd.cpio"
  echo "ROOT=$OUT/root.img"
  echo "APPEND=$APPEND"
}

if [[ -f "$OUT/done" ]]; then touch "$OUT/done"; report; exit 0; fi

for tool in apt-get dpkg-deb cpio mke2fs flock; do
  command -v "$tool" >/dev/null || { echo "libvirt-vm-image: $tool is missing (apt-get install cpio e2fsprogs)" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "libvirt-vm-image: must run as root" >&2; exit 1; }

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/libvirt-vm.lock"
flock 9
if [[ -f "$OUT/done" ]]; then report; exit 0; fi

log() { echo "libvirt-vm-image: $*" >&2; }
WORK=$(mktemp -d "$CACHE_ROOT/libvirt-vm-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

log "downloading $KPKG"
(cd "$WORK" && apt-get download -q "$KPKG" >/dev/null 2>"$WORK/apt.log") || { cat "$WORK/apt.log" >&2; exit 1; }
dpkg-deb -x "$WORK"/linux-image-*.deb "$WORK/kernel"
KVER=${KPKG#linux-image-}
MODDIR="lib/modules/$KVER"

log "staging the root tree"
ROOTFS="$WORK/root"
cp -a "$TREE" "$ROOTFS"
install -m 0755 "$NODE_BIN" "$ROOTFS/usr/bin/node"
echo libvirt-vm >"$ROOTFS/etc/hostname"
mkdir -p "$ROOTFS/opt/machined-ts"
# The scenario the test puts on the second disk, run once the guest is up;
# its output goes to the serial console.
cat >"$ROOTFS/etc/systemd/system/machined-ts-scenario.service" <<'EOF'
[Unit]
Description=Run the test scenario from the second disk
After=multi-user.target
[Service]
Type=oneshot
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
ExecStart=/bin/mount -o ro,noload /dev/vdb /opt/machined-ts
ExecStart=/bin/sh /opt/machined-ts/scenario.sh
[Install]
WantedBy=multi-user.target
EOF
ln -s /etc/systemd/system/machined-ts-scenario.service "$ROOTFS/etc/systemd/system/multi-user.target.wants/machined-ts-scenario.service"
# Only boot time in a throwaway VM (no getty: the console is the scenario's).
for unit in serial-getty@ttyS0.service getty@tty1.service apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer e2scrub_reap.service systemd-pstore.service; do
  ln -sf /dev/null "$ROOTFS/etc/systemd/system/$unit"
done
rm -rf "$ROOTFS"/usr/share/{doc,man,info,locale}

log "making the ext4 root image"
mkdir -p "$WORK/out"
SIZE_MB=$(( $(du -sm "$ROOTFS" | cut -f1) + 1024 ))
mke2fs -q -t ext4 -L root -d "$ROOTFS" "$WORK/out/root.img" "${SIZE_MB}M"

log "making the initrd"
INITRD="$WORK/initrd"
mkdir -p "$INITRD"/{bin,dev,proc,sys,newroot,modules}
cp "$TREE/bin/busybox" "$INITRD/bin/busybox"
MODS="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk fuse"
for m in $MODS; do
  ko=$(find "$WORK/kernel/$MODDIR" -name "$m.ko" | head -n1)
  [[ -n "$ko" ]] || { echo "libvirt-vm-image: no $m.ko in $KPKG" >&2; exit 1; }
  cp "$ko" "$INITRD/modules/"
done
cat >"$INITRD/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
for m in $MODS; do insmod /modules/\$m.ko || echo "initrd: insmod \$m failed"; done
i=0
while [ ! -b /dev/vda ] && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i + 1)); done
mount -t ext4 /dev/vda /newroot || { echo "initrd: cannot mount /dev/vda"; poweroff -f; }
umount /proc
mount --move /dev /newroot/dev
exec switch_root /newroot /lib/systemd/systemd
EOF
chmod 0755 "$INITRD/init"
(cd "$INITRD" && find . -print0 | cpio --null --create --format=newc --quiet) >"$WORK/out/initrd.cpio"
cp "$WORK/kernel/boot/vmlinuz-$KVER" "$WORK/out/vmlinuz"
touch "$WORK/out/done"
rm -rf "$OUT"
mv "$WORK/out" "$OUT"
# Other recipes' images unused for a day are dead weight.
# (Only image directories: a run's libvirt-vm-run-* and a build's are not.)
for old in "$CACHE_ROOT"/libvirt-vm-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]; do
  [[ "$old" == "$OUT" || ! -d "$old" ]] && continue
  [[ -f "$old/done" && -z $(find "$old/done" -mmin +1440) ]] || rm -rf "$old"
done
log "built $OUT ($(du -sh "$OUT" | cut -f1))"
report
