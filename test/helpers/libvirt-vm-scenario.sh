# Runs inside the libvirt VM (scripts/libvirt-vm-image.sh) at boot, from the
# checkout disk mounted at /opt/machined-ts: machined-ts installed from its
# unit, libvirtd, one LXC domain started and destroyed with virsh. Prints
# what it saw on the serial console as sections (@@BEGIN NAME, base64 lines,
# @@END NAME) that test/e2e/libvirt-vm.test.ts reads, then powers off.
# Asserts nothing itself: the test does.
R=/opt/machined-ts
O=/run/scenario
mkdir -p "$O"
section() { echo "@@BEGIN $1"; base64 -w 76 "$O/$1"; echo "@@END $1"; }
# Bounded waits: TCG is slow, but nothing here may hang the VM.
wait_for() { i=0; while ! sh -c "$1" >/dev/null 2>&1; do i=$((i + 1)); [ $i -ge "$2" ] && return 1; sleep 0.5; done; }

{
  echo "kernel $(uname -r)"
  echo "cgroupfs $(stat -fc %T /sys/fs/cgroup)"
  echo "controllers $(cat /sys/fs/cgroup/cgroup.controllers)"
  echo "pid1 $(cat /proc/1/comm)"
} >"$O/host"

/usr/bin/node "$R/bin/machined.js" install-service >"$O/install" 2>&1
systemctl start machined-ts.service >>"$O/install" 2>&1
busctl status org.freedesktop.machine1 >>"$O/install" 2>&1
systemd-run --unit=bus-monitor sh -c "exec dbus-monitor --system \"type='method_call',destination='org.freedesktop.machine1'\" \"type='method_call',destination='org.freedesktop.systemd1'\" >/run/bus-monitor.log 2>&1"
# libvirt-daemon without libvirt-daemon-system (as in test/e2e/libvirt.test.ts):
# the QEMU driver's user, without which libvirtd does not start, and qemu run as root.
useradd --system --user-group --no-create-home --home-dir /var/lib/libvirt libvirt-qemu
printf 'user = "root"\ngroup = "root"\n' >/etc/libvirt/qemu.conf
systemd-run --unit=libvirtd --service-type=exec /usr/sbin/libvirtd
wait_for 'test -S /run/libvirt/libvirt-sock || ! systemctl -q is-active libvirtd' 240
sleep 2

cp -a "$R/bb" /var/lib/machines/bb
virsh -c lxc:/// define "$R/bb.xml" >"$O/start" 2>&1
virsh -c lxc:/// start bb >>"$O/start" 2>&1
echo "rc $?" >>"$O/start"
machinectl list --no-legend >"$O/list" 2>&1
NAME=$(machinectl list --no-legend | awk '$3 == "libvirt-lxc" { print $1 }')
machinectl show "$NAME" >"$O/show" 2>&1
UNIT=$(machinectl show "$NAME" -p Unit --value)
LEADER=$(machinectl show "$NAME" -p Leader --value)
# Every process under the scope (cgroup2), with its cgroup and name.
find "/sys/fs/cgroup/machine.slice/$UNIT" -name cgroup.procs | while read -r f; do
  for p in $(cat "$f"); do echo "${f#/sys/fs/cgroup}	$p	$(cat /proc/$p/comm)"; done
done >"$O/scope"
: >"$O/procs"
for p in $LEADER $(pgrep -x libvirt_lxc); do echo "$p	$(cat /proc/$p/comm)	$(cat /proc/$p/cgroup)" >>"$O/procs"; done
for p in $(pgrep -x libvirt_lxc); do busctl call org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager GetMachineByPID u "$p"; done >"$O/bypid" 2>&1

virsh -c lxc:/// destroy bb >"$O/destroy" 2>&1
echo "rc $?" >>"$O/destroy"
wait_for "test -z \"\$(machinectl list --no-legend)\"" 60
machinectl list --no-legend >"$O/after" 2>&1
test -n "$UNIT" && test -e "/sys/fs/cgroup/machine.slice/$UNIT" && echo "scope left" >>"$O/after"
sleep 1
cp /run/bus-monitor.log "$O/bus"
journalctl -b --no-pager -u machined-ts.service -u libvirtd.service >"$O/journal" 2>&1

for s in host install start list show scope procs bypid destroy after bus journal; do section "$s"; done
echo "@@DONE"
systemctl poweroff
