#!/bin/sh
# Guest side of the machine-id check, installed in the test VM image by
# scripts/vm-image.sh and run once the guest reaches multi-user.target.
# It prints one line on the serial console that the host parses
# (src/vmspawn/machine-id.ts, parseGuestReport):
#
#   machined-ts-report: product_uuid=<uuid> machine_id=<id> expected=<id> verdict=match|mismatch|no-uuid
#
# The rule is systemd's (machine_id_setup → id128_get_product): on KVM or
# QEMU with an empty /etc/machine-id, the machine ID is the kernel's
# /sys/class/dmi/id/product_uuid, lower-cased, dashes removed, no byte
# swapping. All-zero and all-ff UUIDs count as none (the kernel hides them).
uuid=$(cat /sys/class/dmi/id/product_uuid 2>/dev/null || true)
id=$(cat /etc/machine-id 2>/dev/null || true)
expected=$(printf '%s' "$uuid" | tr -d '-' | tr 'A-F' 'a-f')
case "$expected" in
  00000000000000000000000000000000|ffffffffffffffffffffffffffffffff|'') verdict=no-uuid ;;
  "$id") verdict=match ;;
  *) verdict=mismatch ;;
esac
echo "machined-ts-report: product_uuid=${uuid:-none} machine_id=${id:-none} expected=${expected:-none} verdict=$verdict"
