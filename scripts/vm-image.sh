#!/usr/bin/env bash
# Builds (once) the test VM image that machined-vmspawn's tests and
# bench/vm-boot.js boot, and prints where it is:
#
#   KERNEL=/var/tmp/machined-ts/vm-image-<hash>/vmlinuz
#   INITRD=/var/tmp/machined-ts/vm-image-<hash>/initrd.cpio
#   APPEND=<the kernel command line the image needs, besides console=>
#
# The image: Debian's cloud kernel (apt-get download + dpkg-deb -x) and a
# debootstrap tree packed as an uncompressed newc cpio initrd, booted with
# rdinit=/lib/systemd/systemd. The tree
# has an empty /etc/machine-id, so its systemd takes the SMBIOS product UUID
# as machine ID on every boot ("Initializing machine ID from VM UUID.").
# It includes udev (without it serial-getty@ttyS0 waits 90 s for its
# device and logind never sees the ACPI power button) and kmod plus the
# kernel's button and evdev modules, depmod'ed and named in modules-load.d,
# so that QMP system_powerdown powers the guest off through logind.
#
# The guest report (data/guest/, docs/vm-guest-protocol.md) is installed
# as any guest would install it: the script as
# /usr/libexec/machined-guest-report, its unit enabled. Debian 12's
# systemd (252) predates the vsock notify channel, so this report is how
# the launcher learns that the guest is ready and which machine ID it took.
#
# The cache directory's name carries a hash of the recipe (this script and
# data/guest/): changing it rebuilds the image. Other recipes' images (other
# checkouts sharing the cache) are removed once unused for a day. Needs
# root, apt-get, debootstrap, dpkg-deb, cpio and the Debian mirror; a
# missing one is an error (CI installs them all; tests never skip for lack
# of one).
set -euo pipefail

CACHE_ROOT=${MACHINED_TS_CACHE:-/var/tmp/machined-ts}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
HERE=$(cd "$(dirname "$0")" && pwd)
# Contents only: the same recipe hashes the same from any path.
GUEST_DIR="$HERE/../data/guest"
RECIPE_HASH=$(cat "$HERE/vm-image.sh" "$GUEST_DIR/machined-guest-report" "$GUEST_DIR/machined-guest-report.service" | sha256sum | cut -c1-12)
OUT="$CACHE_ROOT/vm-image-$RECIPE_HASH"
# What the image needs on the kernel command line; machined-vmspawn puts
# console=ttyS0 (its serial console) in front, a hand-written qemu command
# line must add it itself.
APPEND="rdinit=/lib/systemd/systemd"

report() {
  echo "KERNEL=$OUT/vmlinuz"
  echo "INITRD=$OUT/initrd.cpio"
  echo "APPEND=$APPEND"
}

# A cache hit marks the image as used (see the clean-up at the end).
if [[ -f "$OUT/done" ]]; then touch "$OUT/done"; report; exit 0; fi

for tool in apt-get apt-cache debootstrap dpkg-deb cpio chroot flock; do
  command -v "$tool" >/dev/null || { echo "vm-image: $tool is missing (apt-get install debootstrap cpio)" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "vm-image: must run as root (debootstrap)" >&2; exit 1; }

mkdir -p "$CACHE_ROOT"
# One builder at a time; whoever waited finds the image done.
exec 9>"$CACHE_ROOT/vm-image.lock"
flock 9
if [[ -f "$OUT/done" ]]; then report; exit 0; fi

log() { echo "vm-image: $*" >&2; }
WORK=$(mktemp -d "$CACHE_ROOT/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The kernel: whatever linux-image-cloud-amd64 currently depends on.
KPKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
[[ -n "$KPKG" ]] || { echo "vm-image: no linux-image-*-cloud-amd64 in the apt lists (run apt-get update)" >&2; exit 1; }
log "downloading $KPKG"
(cd "$WORK" && apt-get download -q "$KPKG" >/dev/null 2>"$WORK/apt.log") || { cat "$WORK/apt.log" >&2; exit 1; }
dpkg-deb -x "$WORK"/linux-image-*.deb "$WORK/kernel"
KVER=${KPKG#linux-image-}

log "debootstrap $SUITE (about a minute)"
TREE="$WORK/tree"
debootstrap --variant=minbase --include=systemd,dbus,udev,kmod "$SUITE" "$TREE" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -n 20 "$WORK/debootstrap.log" >&2; exit 1; }

# First boot every time: an empty machine-id makes systemd pick one (from
# the SMBIOS UUID under qemu); dbus's copy must not override it.
: >"$TREE/etc/machine-id"
rm -f "$TREE/var/lib/dbus/machine-id"
echo guest >"$TREE/etc/hostname"
# A test image: root logs in on the serial console without a password.
sed -i 's/^root:[^:]*:/root::/' "$TREE/etc/shadow"

# The ACPI power button: the modules, their index, and loading at boot.
MODDIR="lib/modules/$KVER"
mkdir -p "$TREE/$MODDIR"
cp "$WORK/kernel/$MODDIR"/modules.{builtin,builtin.modinfo,order} "$TREE/$MODDIR/"
for ko in drivers/acpi/button.ko drivers/input/evdev.ko; do
  install -D -m 0644 "$WORK/kernel/$MODDIR/kernel/$ko" "$TREE/$MODDIR/kernel/$ko"
done
# The tree's own kmod (the host need not have it).
chroot "$TREE" depmod "$KVER"
printf 'button\nevdev\n' >"$TREE/etc/modules-load.d/acpi-power-button.conf"

# The guest report, installed as docs/vm-guest-protocol.md says.
install -D -m 0755 "$GUEST_DIR/machined-guest-report" "$TREE/usr/libexec/machined-guest-report"
install -D -m 0644 "$GUEST_DIR/machined-guest-report.service" "$TREE/etc/systemd/system/machined-guest-report.service"
chroot "$TREE" systemctl enable machined-guest-report.service >/dev/null 2>&1
# Timers and units that only cost boot time in a throwaway VM.
chroot "$TREE" systemctl disable apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
  e2scrub_reap.service systemd-pstore.service >/dev/null 2>&1 || true

# Smaller initrd, faster unpacking under TCG.
rm -rf "$TREE"/usr/share/{doc,man,info,locale} "$TREE"/var/cache/apt/* "$TREE"/var/lib/apt/lists/* "$TREE"/var/log/*.log

mkdir -p "$WORK/out"
cp "$WORK/kernel/boot/vmlinuz-$KVER" "$WORK/out/vmlinuz"
(cd "$TREE" && find . -print0 | cpio --null --create --format=newc --quiet) >"$WORK/out/initrd.cpio"
echo "$KVER" >"$WORK/out/kernel-version"
touch "$WORK/out/done"
rm -rf "$OUT"
mv "$WORK/out" "$OUT"
# Other recipes' images unused for a day are dead weight (a checkout that
# still uses one touches its done file on every hit).
for old in "$CACHE_ROOT"/vm-image-*; do
  [[ "$old" == "$OUT" ]] && continue
  [[ -f "$old/done" && -z $(find "$old/done" -mmin +1440) ]] || rm -rf "$old"
done
log "built $OUT ($(du -sh "$OUT" | cut -f1))"
report
