/**
 * The Container Interface checklist (docs/container-interface.md, items
 * 1-64) as probes. Guest probes are POSIX sh run INSIDE the
 * booted guest, as one of its own services (the runner in runner.ts asks
 * the guest's systemd for it); host probes look at what only the host can
 * see. Nothing here knows which manager started the container: the same
 * suite runs against machined-spawn and systemd-nspawn.
 *
 * Every probe answers pass, fail (naming the item) or n/a (the item is
 * optional and not in use, or does not apply to how the container was
 * started), with a short detail.
 */

export type Level = 'MUST' | 'SHOULD' | 'MAY' | 'INFO'
export type Outcome = 'pass' | 'fail' | 'n/a'

export interface ProbeResult {
  readonly item: number
  readonly title: string
  readonly level: Level
  readonly where: 'guest' | 'host'
  readonly outcome: Outcome
  readonly detail: string
}

/** Facts from the host the guest probes compare against (passed in as shell variables). */
export interface HostFacts {
  /** The machine name the container was started as. */
  readonly name: string
  /** The host's own boot ID. */
  readonly hostBootId: string
  /** The host's capability bounding set (hex, as in /proc/self/status). */
  readonly hostCapBnd: string
  /** cgroup.subtree_control of the host's cgroup2 root: the controllers in use there ('' on a hybrid layout). */
  readonly hostCgroup2Controllers: string
  /** The Id machined registered, 32 hex digits; '' when the container is not registered. */
  readonly registeredId: string
}

/** What the host probes get: the facts plus ways to look at the host. */
export interface HostContext extends HostFacts {
  readonly leader: number
  /** /proc/<leader>/cgroup as the host sees it. */
  readonly leaderCgroup: string
  /** `machinectl show NAME` output, '' when not registered. */
  readonly machinectlShow: string
  /** `journalctl -M NAME -n 1` on the host: exit code and output. */
  readonly journal: { readonly code: number; readonly output: string }
}

interface GuestProbe {
  readonly item: number
  readonly title: string
  readonly level: Level
  readonly sh: string
}

interface HostProbe {
  readonly item: number
  readonly title: string
  readonly level: Level
  readonly check: (ctx: HostContext) => [Outcome, string]
}

/** nspawn's default retained capabilities minus the audit ones (A1.4 item 34). */
const REFERENCE_CAPS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 18, 19, 21, 22, 23, 24, 26, 27, 28, 31]

const PRELUDE = String.raw`
r() { printf '%s|%s|%s\n' "$ITEM" "$1" "$(echo "$2" | tr '\n|' ' /')"; }
pass() { r pass "$*"; }
fail() { r fail "$*"; }
na() { r n/a "$*"; }
env1() { tr '\0' '\n' </proc/1/environ; }
env1get() { env1 | sed -n "s/^$1=//p" | head -n 1; }
opts() { findmnt -no OPTIONS --mountpoint "$1" 2>/dev/null | tail -n 1; }
fstype() { findmnt -no FSTYPE --mountpoint "$1" 2>/dev/null | tail -n 1; }
has_opt() { case ",$(opts "$1")," in *",$2,"*) return 0;; esac; return 1; }
is_ro() { has_opt "$1" ro; }
capbnd() { sed -n 's/^CapBnd:[[:space:]]*//p' /proc/1/status; }
bit() { echo $(( (0x$1 >> $2) & 1 )); }
# systemd blocks the signals it reads through a signalfd; a blocked signal is queued for PID 1, a caught one handled.
sighandled() { c=$(sed -n 's/^SigCgt:[[:space:]]*//p' /proc/1/status); b=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/1/status); echo $(( ((0x$c | 0x$b) >> ($1 - 1)) & 1 )); }
`

const GUEST: readonly GuestProbe[] = [
  // A1.1 Detection and identification
  { item: 1, level: 'MUST', title: '$container set in PID 1\'s environment', sh: `
    c=$(env1get container)
    [ -n "$c" ] || { fail 'no container= in /proc/1/environ'; exit; }
    [ "$c" = "$(echo "$c" | tr A-Z a-z)" ] || { fail "container=$c is not lower case"; exit; }
    v=$(systemd-detect-virt -c 2>/dev/null)
    case "$v" in "$c"|container-other|systemd-nspawn) pass "container=$c, systemd-detect-virt -c: $v";; *) fail "systemd-detect-virt -c says $v for container=$c";; esac` },
  { item: 2, level: 'MUST', title: '/run/host/container-manager matches $container', sh: `
    f=/run/host/container-manager
    [ -f $f ] || { fail "$f missing"; exit; }
    [ "$(cat $f)" = "$(env1get container)" ] || { fail "$f says '$(cat $f)', container=$(env1get container)"; exit; }
    [ "$(tail -c 1 $f | od -An -c | tr -d ' ')" = '\\n' ] || { fail "$f not newline-terminated"; exit; }
    pass "$(cat $f)"` },
  { item: 3, level: 'MUST', title: '/run/systemd/container written by the guest\'s systemd', sh: `
    [ "$(cat /run/systemd/container 2>/dev/null)" = "$(env1get container)" ] && pass "$(cat /run/systemd/container)" || fail "/run/systemd/container: '$(cat /run/systemd/container 2>&1)'"` },
  { item: 4, level: 'SHOULD', title: '$container_uuid set, a valid non-zero 128-bit ID', sh: `
    u=$(env1get container_uuid)
    [ -n "$u" ] || { fail 'no container_uuid='; exit; }
    h=$(echo "$u" | tr -d - | tr A-F a-f)
    echo "$h" | grep -Eqx '[0-9a-f]{32}' || { fail "container_uuid=$u does not parse"; exit; }
    [ "$h" != 00000000000000000000000000000000 ] || { fail 'container_uuid is all zeros'; exit; }
    [ ! -f /run/host/container-uuid ] || [ "$(tr -d '\\n-' </run/host/container-uuid | tr A-F a-f)" = "$h" ] || { fail 'differs from /run/host/container-uuid'; exit; }
    pass "$u"` },
  { item: 5, level: 'SHOULD', title: '/run/host/container-uuid equals $container_uuid', sh: `
    f=/run/host/container-uuid
    [ -f $f ] || { fail "$f missing"; exit; }
    [ "$(wc -l <$f)" = 1 ] || { fail "$f is not one line"; exit; }
    [ "$(tr -d '\\n-' <$f)" = "$(env1get container_uuid | tr -d -)" ] && pass "$(cat $f)" || fail "$(cat $f) vs container_uuid=$(env1get container_uuid)"` },
  { item: 6, level: 'SHOULD', title: 'container_host_* variables from the host\'s os-release', sh: `
    n=0; bad=
    for kv in $(env1 | grep '^container_host_' | cut -d= -f1); do
      key=$(echo "\${kv#container_host_}" | tr a-z A-Z)
      want=$(. /run/host/os-release 2>/dev/null; eval "printf '%s' \\"\\$$key\\"")
      [ "$(env1get "$kv")" = "$want" ] || bad="$bad $kv"
      n=$((n+1))
    done
    [ $n -gt 0 ] || { fail 'no container_host_* variables'; exit; }
    env1 | grep -q '^container_host_id=' || { fail 'no container_host_id'; exit; }
    [ -z "$bad" ] && pass "$n variables" || fail "differ from /run/host/os-release:$bad"` },
  { item: 7, level: 'SHOULD', title: 'host os-release read-only at /run/host/os-release', sh: `
    f=/run/host/os-release
    [ -f $f ] || { fail "$f missing"; exit; }
    grep -q '^ID=' $f || { fail "$f has no ID="; exit; }
    is_ro $f && pass "$(grep '^ID=' $f), $(opts $f | cut -d, -f1)" || fail "$f mounted $(opts $f)"` },
  { item: 8, level: 'MAY', title: '$container_ttys lists usable extra ptys', sh: `
    t=$(env1get container_ttys)
    [ -n "$t" ] || { na 'not set (no extra ttys offered)'; exit; }
    for x in $t; do [ -c /dev/$x ] || { fail "/dev/$x is not a character device"; exit; }; [ "/dev/$x" != "$(readlink -f /dev/console)" ] || { fail "$x is the console"; exit; }; done
    pass "$t"` },
  { item: 9, level: 'MAY', title: 'credentials in $CREDENTIALS_DIRECTORY (ramfs, read-only)', sh: `
    d=$(env1get CREDENTIALS_DIRECTORY)
    [ -n "$d" ] || { na 'no credentials passed'; exit; }
    case "$(stat -f -c %T "$d")" in ramfs|tmpfs) ;; *) fail "$d is $(stat -f -c %T "$d")"; exit;; esac
    touch "$d/.probe" 2>/dev/null && { rm -f "$d/.probe"; fail "$d is writable"; exit; }
    pass "$d"` },
  { item: 10, level: 'INFO', title: 'PID 1\'s environment holds only the documented variables', sh: `
    extra=$(env1 | cut -d= -f1 | grep -Evx 'container|container_uuid|container_host_[a-z0-9_]+|container_ttys|NOTIFY_SOCKET|CREDENTIALS_DIRECTORY|LISTEN_FDS|LISTEN_PID|LISTEN_FDNAMES|TERM|PATH|HOME|USER|LOGNAME|LANG|SHLVL|_' | tr '\\n' ' ')
    [ -z "$extra" ] && pass "$(env1 | cut -d= -f1 | grep -vc '^container_host_') variables besides container_host_*" || fail "unexpected: $extra"` },
  { item: 11, level: 'INFO', title: 'no competing detection hints (/.dockerenv, /run/.containerenv)', sh: `
    [ ! -e /.dockerenv ] && [ ! -e /run/.containerenv ] && pass 'none' || fail "$(ls -d /.dockerenv /run/.containerenv 2>/dev/null)"` },

  // A1.2 Filesystems and mounts
  { item: 12, level: 'MUST', title: '/proc is the container\'s procfs', sh: `
    [ "$(fstype /proc)" = proc ] || { fail "/proc is $(fstype /proc)"; exit; }
    c=$(cat /proc/1/comm); [ "$c" = systemd ] || [ "$c" = init ] || { fail "PID 1 is $c"; exit; }
    [ "$(readlink /proc/self)" -lt 100000 ] && pass "PID 1 is $c, /proc/self=$(readlink /proc/self)" || fail "/proc/self=$(readlink /proc/self)"` },
  { item: 13, level: 'MUST', title: '/proc/sys read-only (its own netns\'s /proc/sys/net may be writable)', sh: `
    is_ro /proc/sys || { fail "/proc/sys mounted $(opts /proc/sys)"; exit; }
    if sh -c 'echo 1 >/proc/sys/kernel/sysrq' 2>/dev/null; then fail 'writing /proc/sys/kernel/sysrq worked'; exit; fi
    if findmnt --mountpoint /proc/sys/net >/dev/null 2>&1; then is_ro /proc/sys/net && pass '/proc/sys and /proc/sys/net ro' || pass '/proc/sys ro, /proc/sys/net rw (private network)'; else pass "/proc/sys $(opts /proc/sys | cut -d, -f1)"; fi` },
  { item: 14, level: 'SHOULD', title: 'dangerous procfs entries masked or read-only', sh: `
    bad=
    for f in kallsyms kcore keys sysrq-trigger timer_list; do [ -e /proc/$f ] || continue; [ "$(stat -c %a /proc/$f)" = 0 ] || bad="$bad $f(mode $(stat -c %a /proc/$f))"; done
    for d in acpi apm asound bus fs irq scsi; do [ -d /proc/$d ] || continue; is_ro /proc/$d || bad="$bad $d(rw)"; done
    [ -z "$bad" ] && pass 'masked: kallsyms kcore keys sysrq-trigger timer_list; ro: acpi bus fs irq …' || fail "not masked:$bad"` },
  { item: 15, level: 'SHOULD', title: '/proc/kmsg overmounted, no /dev/kmsg', sh: `
    [ ! -e /dev/kmsg ] || { fail '/dev/kmsg exists'; exit; }
    t=$(stat -c %F /proc/kmsg 2>/dev/null)
    if [ "$t" = fifo ]; then pass '/proc/kmsg is a FIFO'; elif timeout 1 head -c1 /proc/kmsg >/dev/null 2>&1; then fail '/proc/kmsg shows the host kernel log'; else pass "/proc/kmsg unreadable ($t)"; fi` },
  { item: 16, level: 'SHOULD', title: 'a boot ID of the container\'s own', sh: `
    b=$(cat /proc/sys/kernel/random/boot_id)
    [ "$b" != "$HOST_BOOT_ID" ] && pass "$b" || fail "boot_id is the host's ($b)"` },
  { item: 17, level: 'MUST', title: '/sys read-only; udev sees it', sh: `
    is_ro /sys || { fail "/sys mounted $(opts /sys)"; exit; }
    if touch /sys/.probe 2>/dev/null; then fail 'touch /sys/.probe worked'; exit; fi
    if systemctl cat systemd-udevd.service >/dev/null 2>&1; then
      [ "$(systemctl show -p ConditionResult --value systemd-udevd.service)" = no ] || [ "$(systemctl is-active systemd-udevd.service)" = inactive ] || { fail 'systemd-udevd ran'; exit; }
    fi
    pass "/sys $(opts /sys | cut -d, -f1), touch fails"` },
  { item: 18, level: 'MAY', title: 'outside /sys/class/net, /sys stays read-only', sh: `
    if touch /sys/kernel/.probe 2>/dev/null; then fail '/sys/kernel writable'; else pass '/sys/kernel read-only'; fi` },
  { item: 19, level: 'SHOULD', title: '/sys/fs/selinux read-only when SELinux is on', sh: `
    findmnt --mountpoint /sys/fs/selinux >/dev/null 2>&1 || { na 'SELinux not in use'; exit; }
    is_ro /sys/fs/selinux && pass ro || fail "mounted $(opts /sys/fs/selinux)"` },
  { item: 20, level: 'MUST', title: '/dev a private tmpfs with exactly the basic nodes', sh: `
    [ "$(fstype /dev)" = tmpfs ] || { fail "/dev is $(fstype /dev)"; exit; }
    bad=
    for x in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
      n=\${x%%:*}; want=\${x#*:}
      got=$(stat -c '%F %t:%T' /dev/$n 2>/dev/null)
      [ "$got" = "character special file $(printf '%x:%x' \${want%%:*} \${want#*:})" ] || bad="$bad $n($got)"
    done
    [ -z "$(find /dev -type b 2>/dev/null)" ] || bad="$bad block:$(find /dev -type b | tr '\\n' ' ')"
    extra=$(find /dev -xdev -type c | sed 's#^/dev/##' | grep -Evx 'null|zero|full|random|urandom|tty|console|ptmx|net/tun' | tr '\\n' ' ')
    [ -z "$extra" ] || bad="$bad extra:$extra"
    [ -z "$bad" ] && pass 'tmpfs; null zero full random urandom tty; no block devices' || fail "$bad"` },
  { item: 21, level: 'MUST', title: '/dev/console is a pty held by the manager', sh: `
    [ -c /dev/console ] || [ -L /dev/console ] || { fail 'no /dev/console'; exit; }
    t=$(readlink -f /dev/console)
    case "$t" in /dev/pts/*) ok=1;; *) [ "$(stat -L -c %t /dev/console)" = 88 ] && ok=1 || ok=0;; esac
    [ $ok = 1 ] || { fail "/dev/console is $(stat -L -c '%t:%T' /dev/console)"; exit; }
    tty </dev/console >/dev/null 2>&1 && pass "pty ($t, major 0x$(stat -L -c %t /dev/console))" || fail 'tty </dev/console fails'` },
  { item: 22, level: 'MUST', title: 'private devpts at /dev/pts, /dev/ptmx -> pts/ptmx', sh: `
    [ "$(fstype /dev/pts)" = devpts ] || { fail "/dev/pts is $(fstype /dev/pts)"; exit; }
    has_opt /dev/pts ptmxmode=666 && has_opt /dev/pts gid=5 || { fail "/dev/pts options $(opts /dev/pts)"; exit; }
    [ "$(readlink /dev/ptmx)" = pts/ptmx ] || [ "$(stat -c %t:%T /dev/ptmx)" = 5:2 ] || { fail "/dev/ptmx is $(ls -l /dev/ptmx)"; exit; }
    script -qc true /dev/null </dev/null >/dev/null 2>&1 && pass "$(opts /dev/pts)" || fail 'cannot open a new pty'` },
  { item: 23, level: 'SHOULD', title: '/dev/shm tmpfs (1777) and /dev/mqueue', sh: `
    [ "$(fstype /dev/shm)" = tmpfs ] && [ "$(stat -c %a /dev/shm)" = 1777 ] || { fail "/dev/shm: $(fstype /dev/shm) $(stat -c %a /dev/shm)"; exit; }
    [ "$(fstype /dev/mqueue)" = mqueue ] && pass 'tmpfs 1777, mqueue' || fail "/dev/mqueue is '$(fstype /dev/mqueue)'"` },
  { item: 24, level: 'SHOULD', title: '/run and /tmp are tmpfs', sh: `
    [ "$(fstype /run)" = tmpfs ] || { fail "/run is $(fstype /run)"; exit; }
    [ "$(fstype /tmp)" = tmpfs ] && pass '/run tmpfs, /tmp tmpfs' || pass "/run tmpfs, /tmp on $(stat -f -c %T /tmp)"` },
  { item: 25, level: 'SHOULD', title: 'device access limited by the cgroup (mknod is harmless)', sh: `
    head -c1 /dev/null || { fail '/dev/null unusable'; exit; }
    # On /dev: /tmp is nodev, which would refuse the open for another reason.
    f=/dev/.probe-sda; rm -f $f
    if mknod $f b 8 0 2>/dev/null; then
      if head -c1 $f >/dev/null 2>/tmp/.probe-err; then rm -f $f; fail 'opened block device 8:0'; exit; fi
      e=$(cat /tmp/.probe-err); rm -f $f /tmp/.probe-err
      case "$e" in *"not permitted"*) pass 'mknod works, open refused (EPERM)';; *) fail "open of 8:0 was not refused by a device policy: $e";; esac
    else pass 'mknod of block devices refused'; fi` },

  // A1.3 cgroups
  { item: 26, level: 'MUST', title: 'own cgroup namespace, writable cgroup2 at /sys/fs/cgroup', sh: `
    [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] || { fail "/sys/fs/cgroup is $(stat -f -c %T /sys/fs/cgroup)"; exit; }
    [ "$(sed -n 's/^0:://p' /proc/1/cgroup)" = /init.scope ] || { fail "PID 1 in $(sed -n 's/^0:://p' /proc/1/cgroup)"; exit; }
    mkdir /sys/fs/cgroup/probe.$$ && rmdir /sys/fs/cgroup/probe.$$ && pass 'cgroup2fs, PID 1 in /init.scope, mkdir works' || fail 'cannot mkdir in /sys/fs/cgroup'` },
  { item: 27, level: 'MUST', title: 'cgroup paths in /proc/1/cgroup exist under /sys/fs/cgroup', sh: `
    p=$(sed -n 's/^0:://p' /proc/1/cgroup)
    [ -d "/sys/fs/cgroup$p" ] && pass "/sys/fs/cgroup$p" || fail "/sys/fs/cgroup$p missing"` },
  { item: 28, level: 'MUST', title: 'only the container\'s own subtree is visible and writable', sh: `
    grep -q 'machine.slice\\|machine-' /proc/1/cgroup && { fail "host paths visible: $(grep machine /proc/1/cgroup | head -n 1)"; exit; }
    pass "root at the container's cgroup; controllers: '$(cat /sys/fs/cgroup/cgroup.controllers)'"` },
  { item: 29, level: 'MUST', title: 'controllers delegated to the container (guest side)', sh: `
    c=$(cat /sys/fs/cgroup/cgroup.controllers)
    if [ -n "$c" ]; then pass "$c"; elif [ -z "$HOST_CG2_CONTROLLERS" ]; then na 'the host enables no controllers on cgroup2 (hybrid layout: they live in v1)'; else fail "none delegated (the host uses: $HOST_CG2_CONTROLLERS)"; fi` },
  { item: 30, level: 'INFO', title: 'cgroup v2 only (no legacy hierarchies)', sh: `
    [ -z "$(findmnt -rno TARGET -t cgroup)" ] && pass 'no cgroup v1 mounts' || fail "v1 mounted: $(findmnt -rno TARGET -t cgroup | tr '\\n' ' ')"` },
  { item: 31, level: 'MUST', title: 'no "Failed to create /init.scope control group"', sh: `
    if journalctl -b --no-pager -q 2>/dev/null | grep -q 'Failed to create .*control group'; then fail "$(journalctl -b --no-pager -q | grep 'Failed to create .*control group' | head -n 1)"; else pass 'not in the journal'; fi` },

  // A1.4 Capabilities and security
  { item: 32, level: 'MUST', title: 'CAP_SYS_ADMIN and CAP_MKNOD kept', sh: `
    b=$(capbnd); [ "$(bit $b 21)$(bit $b 27)" = 11 ] && pass "CapBnd $b" || fail "CapBnd $b lacks SYS_ADMIN or MKNOD"` },
  { item: 33, level: 'SHOULD', title: 'CAP_AUDIT_CONTROL, _READ, _WRITE dropped', sh: `
    b=$(capbnd); [ "$(bit $b 29)$(bit $b 30)$(bit $b 37)" = 000 ] && pass "CapBnd $b" || fail "CapBnd $b keeps audit capabilities (29:$(bit $b 29) 30:$(bit $b 30) 37:$(bit $b 37))"` },
  { item: 34, level: 'SHOULD', title: 'bounding set = the reference set (within the host\'s)', sh: `
    b=$(capbnd); extra=; missing=
    for n in $(seq 0 40); do
      want=0; for r in ${REFERENCE_CAPS.join(' ')}; do [ $r = $n ] && want=1; done
      [ $(bit $HOST_CAPBND $n) = 1 ] || want=0
      got=$(bit $b $n)
      [ $got = 1 ] && [ $want = 0 ] && [ $n != 12 ] && extra="$extra $n"
      [ $got = 0 ] && [ $want = 1 ] && missing="$missing $n"
    done
    [ -z "$extra$missing" ] && pass "CapBnd $b" || fail "CapBnd $b: extra caps:$extra missing:$missing"` },
  { item: 35, level: 'MUST', title: 'no block devices, no VTs', sh: `
    v=$(ls /dev/tty[0-9]* 2>/dev/null | tr '\\n' ' '); b=$(find /dev -type b | tr '\\n' ' ')
    [ -z "$v$b" ] && pass 'none' || fail "$v$b"` },
  { item: 36, level: 'MUST', title: '/dev/kmsg not linked to /dev/console', sh: `
    [ ! -e /dev/kmsg ] || [ "$(stat -Lc %t:%T /dev/kmsg)" != "$(stat -Lc %t:%T /dev/console)" ] && pass 'distinct (or no /dev/kmsg)' || fail '/dev/kmsg is the console'` },
  { item: 37, level: 'MUST', title: 'udev not made to run', sh: `
    systemctl cat systemd-udevd.service >/dev/null 2>&1 || { pass 'udev not installed'; exit; }
    [ "$(systemctl is-failed systemd-udevd.service)" != failed ] && pass "systemd-udevd $(systemctl is-active systemd-udevd.service)" || fail 'systemd-udevd failed'` },

  // A1.5 /run/host
  { item: 38, level: 'MUST', title: '/run/host/inaccessible/ with mode-0 nodes', sh: `
    bad=
    for x in reg:'regular empty file' dir:directory fifo:fifo sock:socket chr:'character special file' blk:'block special file'; do
      n=\${x%%:*}; t=\${x#*:}; f=/run/host/inaccessible/$n
      [ -e $f ] || { bad="$bad $n(missing)"; continue; }
      [ "$(stat -c %a $f)" = 0 ] || bad="$bad $n(mode $(stat -c %a $f))"
      [ "$(stat -c %F $f)" = "$t" ] || bad="$bad $n($(stat -c %F $f))"
      case $n in chr|blk) [ "$(stat -c %t:%T $f)" = 0:0 ] || bad="$bad $n($(stat -c %t:%T $f))";; esac
    done
    [ -z "$bad" ] && pass 'reg dir fifo sock chr blk, mode 0' || fail "$bad"` },
  { item: 39, level: 'SHOULD', title: 'sd_notify socket at /run/host/notify', sh: `
    [ -S /run/host/notify ] || { fail 'no socket at /run/host/notify'; exit; }
    NOTIFY_SOCKET=/run/host/notify systemd-notify --status=conformance-probe && pass 'socket, systemd-notify works' || fail 'systemd-notify failed'` },
  { item: 40, level: 'SHOULD', title: '/run/host holds os-release, container-manager, container-uuid', sh: `
    m=; for f in os-release container-manager container-uuid; do [ -f /run/host/$f ] || m="$m $f"; done
    [ -z "$m" ] && pass 'all three' || fail "missing:$m"` },
  { item: 41, level: 'SHOULD', title: '/run/host/incoming, a slave of the host', sh: `
    findmnt --mountpoint /run/host/incoming >/dev/null 2>&1 || { fail 'no mount at /run/host/incoming'; exit; }
    p=$(findmnt -no PROPAGATION --mountpoint /run/host/incoming | tail -n 1)
    case "$p" in *slave*) pass "$p";; *) fail "propagation $p";; esac` },
  { item: 42, level: 'MAY', title: '/run/host/credentials', sh: `
    [ -d /run/host/credentials ] || { na 'no credentials passed'; exit; }
    touch /run/host/credentials/.probe 2>/dev/null && { rm -f /run/host/credentials/.probe; fail 'writable'; exit; }
    pass 'read-only'` },
  { item: 43, level: 'MAY', title: '/run/host/unix-export/ writable by the guest', sh: `
    [ -d /run/host/unix-export ] || { na 'not provided'; exit; }
    touch /run/host/unix-export/.probe && rm /run/host/unix-export/.probe && pass 'writable' || fail 'not writable'` },
  { item: 44, level: 'MAY', title: '/run/host/userdb/ and /run/host/home/', sh: `
    [ -d /run/host/userdb ] || { na 'no users bound (--bind-user)'; exit; }
    pass "$(ls /run/host/userdb | wc -l) records"` },
  { item: 45, level: 'INFO', title: '/run/host is the manager\'s, read-only to the guest', sh: `
    [ -d /run/host ] || { fail 'no /run/host'; exit; }
    if touch /run/host/.probe 2>/dev/null; then rm -f /run/host/.probe; fail '/run/host writable'; else pass 'read-only'; fi` },

  // A1.6 PID 1 lifecycle
  { item: 46, level: 'MUST', title: 'PID 1 takes SIGRTMIN+3 (clean shutdown request)', sh: `
    [ "$(sighandled 37)" = 1 ] && pass 'SIGRTMIN+3 caught or queued' || fail 'PID 1 neither catches nor blocks SIGRTMIN+3: it would be dropped'` },
  { item: 47, level: 'INFO', title: 'PID 1 takes SIGINT, SIGRTMIN+4, SIGRTMIN+5 (machinectl reboot/poweroff)', sh: `
    [ "$(sighandled 2)$(sighandled 38)$(sighandled 39)" = 111 ] && pass 'all three caught or queued' || fail "SIGINT/RTMIN+4/RTMIN+5: $(sighandled 2)$(sighandled 38)$(sighandled 39)"` },
  { item: 49, level: 'MUST', title: 'PID 1 has CAP_SYS_BOOT, so reboot(2) reaches the manager as a signal', sh: `
    [ "$(bit $(capbnd) 22)" = 1 ] && pass 'CAP_SYS_BOOT' || fail 'no CAP_SYS_BOOT: poweroff and reboot look like exit 0'` },
  { item: 50, level: 'INFO', title: 'PID 1 is the payload\'s init (it reaps orphans)', sh: `
    [ "$(cat /proc/1/comm)" = systemd ] && pass 'systemd' || fail "$(cat /proc/1/comm)"` },

  // A1.7 Notification
  { item: 51, level: 'SHOULD', title: '$NOTIFY_SOCKET in PID 1\'s environment names a socket', sh: `
    n=$(env1get NOTIFY_SOCKET)
    [ -n "$n" ] || { fail 'not set'; exit; }
    case "$n" in @*) fail "abstract socket $n";; *) [ -S "$n" ] && pass "$n" || fail "$n is no socket";; esac` },
  { item: 53, level: 'MAY', title: 'socket activation: LISTEN_PID=1', sh: `
    p=$(env1get LISTEN_PID); [ -n "$p" ] || { na 'no sockets passed'; exit; }
    [ "$p" = 1 ] && pass 'LISTEN_PID=1' || fail "LISTEN_PID=$p"` },

  // A1.8 Advanced integration
  { item: 54, level: 'SHOULD', title: '/etc/localtime a relative symlink that resolves', sh: `
    [ -e /etc/localtime ] || { na 'no /etc/localtime'; exit; }
    [ -L /etc/localtime ] || { pass 'a regular file'; exit; }
    case "$(readlink /etc/localtime)" in /*) fail "absolute: $(readlink /etc/localtime)";; *) [ -f "$(readlink -f /etc/localtime)" ] && pass "$(readlink /etc/localtime)" || fail 'dangling';; esac` },
  { item: 56, level: 'MAY', title: 'hostname is the machine name (no /etc/hostname)', sh: `
    if [ -s /etc/hostname ]; then na "/etc/hostname says $(cat /etc/hostname)"; exit; fi
    [ "$(cat /proc/sys/kernel/hostname)" = "$MACHINE_NAME" ] && pass "$MACHINE_NAME" || fail "hostname $(cat /proc/sys/kernel/hostname), machine $MACHINE_NAME"` },
  { item: 57, level: 'MAY', title: 'resolver configuration', sh: `
    [ -e /etc/resolv.conf ] && pass 'present' || na 'none (optional)'` },

  // A1.9 Machine ID
  { item: 59, level: 'SHOULD', title: '/etc/machine-id = registered Id = $container_uuid', sh: `
    m=$(cat /etc/machine-id); u=$(env1get container_uuid | tr -d - | tr A-F a-f)
    [ "$m" = "$u" ] || { fail "machine-id $m, container_uuid $u"; exit; }
    [ -z "$REGISTERED_ID" ] && { pass "$m (not registered)"; exit; }
    [ "$m" = "$REGISTERED_ID" ] && pass "$m" || fail "machine-id $m, registered $REGISTERED_ID"` },
  { item: 60, level: 'INFO', title: 'read-only /etc: transient machine-id bind', sh: `
    if touch /etc/.probe 2>/dev/null; then rm -f /etc/.probe; na '/etc is writable'; else findmnt --mountpoint /etc/machine-id >/dev/null && pass 'bound from /run' || fail 'no transient machine-id'; fi` },
  { item: 61, level: 'INFO', title: 'ephemeral/cloned containers get a new ID', sh: `na 'not an ephemeral container'` },

  // A1.10 Networking
  { item: 62, level: 'SHOULD', title: 'container side of a veth named host0', sh: `
    [ -e /sys/class/net/host0 ] && pass 'host0' || na 'no veth (host network, or loopback only)'` },
  { item: 63, level: 'SHOULD', title: 'stable MAC on host0', sh: `
    [ -e /sys/class/net/host0 ] && pass "$(cat /sys/class/net/host0/address)" || na 'no veth'` },
]

const HOST: readonly HostProbe[] = [
  { item: 29, level: 'MUST', title: 'one delegated scope per container (host side)', check: (c) => {
    const unified = /^0::(.*)$/m.exec(c.leaderCgroup)?.[1] ?? ''
    // The guest's systemd moves itself into init.scope below whatever it was given.
    return /\/machine-[^/]+\.scope(\/|$)/.test(unified) || /\/payload(\/|$)/.test(unified)
      ? ['pass', `leader in ${unified}`] : ['fail', `leader in '${unified}', not a machine scope of its own`]
  } },
  { item: 48, level: 'SHOULD', title: 'lifecycle signals only once the guest handles them', check: () => ['n/a', 'systemd 252 sends no X_SYSTEMD_SIGNALS_LEVEL; the manager-side behaviour is tested by the lifecycle tests'] },
  { item: 52, level: 'SHOULD', title: 'manager parses READY=1, STATUS=, EXIT_STATUS=, …', check: () => ['n/a', 'manager side; tested by the lifecycle tests'] },
  { item: 55, level: 'SHOULD', title: 'journalctl -M NAME shows the guest\'s journal (host)', check: (c) => {
    if (c.registeredId === '') return ['n/a', 'not registered']
    return c.journal.code === 0 && c.journal.output.trim() !== '' ? ['pass', 'entries'] : ['fail', `journalctl -M: ${c.journal.output.trim().split('\n')[0] ?? ''}`]
  } },
  { item: 58, level: 'SHOULD', title: 'registered with machined: class container, leader = PID 1', check: (c) => {
    if (c.machinectlShow === '') return ['n/a', 'not registered (--register=no)']
    const get = (k: string): string => new RegExp(`^${k}=(.*)$`, 'm').exec(c.machinectlShow)?.[1] ?? ''
    const problems: string[] = []
    if (get('Class') !== 'container') problems.push(`Class=${get('Class')}`)
    if (get('Leader') !== String(c.leader)) problems.push(`Leader=${get('Leader')} (PID 1 is ${c.leader})`)
    if (get('Id') !== c.registeredId) problems.push(`Id=${get('Id')}`)
    return problems.length === 0 ? ['pass', `Leader=${c.leader}, Service=${get('Service')}`] : ['fail', problems.join(', ')]
  } },
  { item: 64, level: 'SHOULD', title: 'host-side interfaces registered', check: () => ['n/a', 'no veth'] },
]

/** Every item number the suite covers, for the completeness test. */
export const COVERED_ITEMS: readonly number[] = [...new Set([...GUEST.map((p) => p.item), ...HOST.map((p) => p.item)])].sort((a, b) => a - b)

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/** The script run inside the guest: the prelude, the host facts, then every guest probe in a subshell. */
export function guestScript(facts: HostFacts): string {
  const vars = [
    `HOST_BOOT_ID=${shellQuote(facts.hostBootId)}`, `HOST_CAPBND=${shellQuote(facts.hostCapBnd)}`,
    `HOST_CG2_CONTROLLERS=${shellQuote(facts.hostCgroup2Controllers)}`, `REGISTERED_ID=${shellQuote(facts.registeredId)}`,
    `MACHINE_NAME=${shellQuote(facts.name)}`,
  ].join('\n')
  const probes = GUEST.map((p) => `( ITEM=${p.item}\n${p.sh}\n) 2>/dev/null || true`).join('\n')
  return `${PRELUDE}\n${vars}\n${probes}\n`
}

/** Parses the guest's answers; a probe that said nothing is a failure of its item. */
export function parseGuestOutput(output: string): ProbeResult[] {
  const answers = new Map<number, { outcome: Outcome; detail: string }>()
  for (const line of output.split('\n')) {
    const m = /^(\d+)\|(pass|fail|n\/a)\|(.*)$/.exec(line)
    if (m !== null && !answers.has(Number(m[1]))) answers.set(Number(m[1]), { outcome: m[2] as Outcome, detail: m[3]!.trim() })
  }
  return GUEST.map((p) => {
    const a = answers.get(p.item) ?? { outcome: 'fail' as const, detail: 'the probe gave no answer' }
    return { item: p.item, title: p.title, level: p.level, where: 'guest', ...a }
  })
}

export function hostResults(ctx: HostContext): ProbeResult[] {
  return HOST.map((p) => {
    const [outcome, detail] = p.check(ctx)
    return { item: p.item, title: p.title, level: p.level, where: 'host', outcome, detail }
  })
}

/** One line per failed probe, each naming its item: what a test prints when the suite fails. */
export function describeFailures(results: readonly ProbeResult[]): string {
  return results.filter((r) => r.outcome === 'fail').map((r) => `item ${r.item} (${r.level}, ${r.where}) ${r.title}: ${r.detail}`).join('\n')
}
