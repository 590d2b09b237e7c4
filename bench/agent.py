"""Load generator for bench/run.js and bench/clients.js: a D-Bus client of
org.freedesktop.machine1, a Varlink client of io.systemd.Machine (stdlib
socket and json only), and the keeper of the leader processes.

It is used identically against both daemons. The client is python3-dbus
(libdbus underneath) through its low-level Message API: requests are built
and replies are read by libdbus in C, and replies are never converted into
Python objects inside a timed region (only their type is looked at), so a
10,000-entry ListMachines reply costs the client the same few microseconds
as an empty one.

Protocol: one JSON object per line on stdin ({"op": ..., ...}), one JSON
object per line on stdout ({"ok": true, ...} or {"ok": false, "error": ...}).
Nothing else is written to stdout.

Leaders are `sleep infinity` processes started with posix_spawn. The agent
first moves itself into a pool cgroup of the run (in every tracking
hierarchy), so each leader is born inside a cgroup of the run and
bench/run.js can always find and kill it by walking those cgroups, even if
this process dies.
"""

import collections
import json
import os
import shutil
import signal
import socket
import sys
import time

import dbus
import dbus.lowlevel
from dbus.bus import BusConnection

DEST = 'org.freedesktop.machine1'
OBJ = '/org/freedesktop/machine1'
IFACE = 'org.freedesktop.machine1.Manager'
TIMEOUT_S = 120.0
SLEEP = shutil.which('sleep') or '/bin/sleep'


def cpu_s():
    # CLOCK_PROCESS_CPUTIME_ID: nanoseconds, not os.times()'s 10-ms ticks.
    return time.process_time()


def call_msg(member, signature=None, *args):
    msg = dbus.lowlevel.MethodCallMessage(DEST, OBJ, IFACE, member)
    if signature is not None:
        msg.append(*args, signature=signature)
    return msg


def register_msg(name, leader):
    # RegisterMachine(s name, ay id, s service, s class, u leader, s root_directory)
    return call_msg('RegisterMachine', 'sayssus', name, b'', 'bench', 'container', leader, '')


def unregister_msg(name):
    return call_msg('UnregisterMachine', 's', name)


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def summary_ms(ns_values):
    v = sorted(x / 1e6 for x in ns_values)
    return {
        'n': len(v),
        'median_ms': percentile(v, 50),
        'p95_ms': percentile(v, 95),
        'min_ms': v[0] if v else None,
        'max_ms': v[-1] if v else None,
        'mean_ms': sum(v) / len(v) if v else None,
    }


class CallFailed(Exception):
    pass


class Agent:
    def __init__(self):
        self.conn = None
        self.varlink = None
        self.varlink_buf = b''
        self.children = set()

    # ── Leaders ──────────────────────────────────────────────────────────

    def op_join_pool(self, dirs):
        """Move this process into the run's pool cgroup in each hierarchy."""
        for d in dirs:
            with open(os.path.join(d, 'cgroup.procs'), 'w') as f:
                f.write('%d\n' % os.getpid())
        return {}

    def op_spawn(self, count, scope_roots=None, scope_names=None):
        """Start `count` leaders. With scope_names, leader i is moved into
        <root>/<scope_names[i]> in every root (cgroups made here)."""
        t0 = time.perf_counter()
        pids = []
        env = {'PATH': '/usr/bin:/bin'}
        for i in range(count):
            pid = os.posix_spawn(SLEEP, ['sleep', 'infinity'], env, setsigdef=(signal.SIGINT,))
            self.children.add(pid)
            pids.append(pid)
            if scope_names is not None:
                for root in scope_roots:
                    d = os.path.join(root, scope_names[i])
                    os.mkdir(d)
                    with open(os.path.join(d, 'cgroup.procs'), 'w') as f:
                        f.write('%d\n' % pid)
        return {'pids': pids, 'elapsed_s': time.perf_counter() - t0}

    def op_kill(self, pids):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids:
            if pid in self.children:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
                self.children.discard(pid)
        return {}

    def op_kill_all(self):
        return self.op_kill(sorted(self.children))

    def op_quit(self):
        return {}

    # ── Bus ──────────────────────────────────────────────────────────────

    def op_connect(self, address):
        if self.conn is not None:
            self.conn.close()
        self.conn = BusConnection(address)
        return {'unique_name': self.conn.get_unique_name()}

    def op_disconnect(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        return {}

    def op_wait_name(self, timeout_s=30):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.conn.name_has_owner(DEST):
                return {}
            time.sleep(0.02)
        raise CallFailed('%s did not appear on the bus within %ss' % (DEST, timeout_s))

    def op_wait_serving(self, varlink_path, timeout_s=60, poll_s=0.002):
        """Polls until the daemon serves both transports: org.freedesktop.machine1
        has an owner on the bus and the Varlink socket answers a call. Returns
        CLOCK_MONOTONIC (ns) of the first poll that saw both."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.conn.name_has_owner(DEST) and self._varlink_answers(varlink_path):
                return {'serving_ns': time.perf_counter_ns()}
            time.sleep(poll_s)
        raise CallFailed('%s was not served on both transports within %ss' % (DEST, timeout_s))

    def _varlink_answers(self, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            s.sendall(json.dumps({'method': 'org.varlink.service.GetInfo', 'parameters': {}}).encode() + b'\0')
            buf = b''
            while b'\0' not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    return False
                buf += chunk
            return 'error' not in json.loads(buf.partition(b'\0')[0])
        except OSError:
            return False
        finally:
            s.close()

    def op_count_machines(self):
        reply = self._call(call_msg('ListMachines'))
        return {'machines': len(reply.get_args_list()[0])}

    def _call(self, msg):
        try:
            return self.conn.send_message_with_reply_and_block(msg, TIMEOUT_S)
        except dbus.exceptions.DBusException as e:
            raise CallFailed('%s: %s' % (e.get_dbus_name(), e.get_dbus_message()))

    def _dbus_pair(self, name, leader):
        self._call(register_msg(name, leader))
        self._call(unregister_msg(name))

    def _timed_pairs(self, pair, names, leaders, warmup_names, warmup_leaders):
        """Runs pair(name, leader) for the warm-up names untimed, then for
        `names` timed one after the other. leaders may hold one PID (reused)
        or one per name."""
        for i, name in enumerate(warmup_names):
            pair(name, warmup_leaders[i % len(warmup_leaders)])
        per_pair = []
        c0 = cpu_s()
        t0 = time.perf_counter_ns()
        for i, name in enumerate(names):
            a = time.perf_counter_ns()
            pair(name, leaders[i % len(leaders)])
            per_pair.append(time.perf_counter_ns() - a)
        t1 = time.perf_counter_ns()
        elapsed = (t1 - t0) / 1e9
        return {
            'pairs': len(names),
            # CLOCK_MONOTONIC, the same in every process: concurrent clients' windows are compared.
            'start_ns': t0,
            'end_ns': t1,
            'elapsed_s': elapsed,
            'pairs_per_s': len(names) / elapsed if elapsed > 0 else None,
            'pair_latency': summary_ms(per_pair),
            'client_cpu_s': cpu_s() - c0,
        }

    def op_pairs(self, names, leaders, warmup_names=(), warmup_leaders=()):
        """Sequential RegisterMachine + UnregisterMachine pairs, one blocking
        call after the other. leaders may hold one PID (reused) or one per name."""
        return self._timed_pairs(self._dbus_pair, names, leaders, warmup_names, warmup_leaders)

    def _pipelined(self, msgs, window):
        """Keeps up to `window` calls in flight; counts error replies."""
        errors = collections.Counter()
        pending = collections.deque()

        def on_reply(reply):
            if isinstance(reply, dbus.lowlevel.ErrorMessage):
                args = reply.get_args_list()
                errors['%s: %s' % (reply.get_error_name(), args[0] if args else '')] += 1

        c0 = cpu_s()
        t0 = time.perf_counter_ns()
        for msg in msgs:
            if len(pending) >= window:
                pending.popleft().block()
            pending.append(self.conn.send_message_with_reply(msg, on_reply, TIMEOUT_S))
        while pending:
            pending.popleft().block()
        elapsed = (time.perf_counter_ns() - t0) / 1e9
        return {
            'calls': len(msgs),
            'elapsed_s': elapsed,
            'calls_per_s': len(msgs) / elapsed if elapsed > 0 else None,
            'errors': sum(errors.values()),
            'error_samples': dict(errors.most_common(5)),
            'client_cpu_s': cpu_s() - c0,
        }

    def op_register_many(self, names, leaders, window=32):
        msgs = [register_msg(n, leaders[i]) for i, n in enumerate(names)]
        return self._pipelined(msgs, window)

    def op_unregister_many(self, names, window=32):
        return self._pipelined([unregister_msg(n) for n in names], window)

    # ── Varlink (io.systemd.Machine), Python stdlib only ────────────────

    def op_varlink_connect(self, path):
        if self.varlink is not None:
            self.varlink.close()
        self.varlink = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.varlink.connect(path)
        self.varlink_buf = b''
        return {}

    def op_varlink_disconnect(self):
        if self.varlink is not None:
            self.varlink.close()
            self.varlink = None
        return {}

    def _varlink_call(self, method, parameters):
        """One blocking call: the request NUL-terminated, then bytes until the reply's NUL."""
        self.varlink.sendall(json.dumps({'method': method, 'parameters': parameters}).encode() + b'\0')
        while b'\0' not in self.varlink_buf:
            chunk = self.varlink.recv(65536)
            if not chunk:
                raise CallFailed('the Varlink connection closed')
            self.varlink_buf += chunk
        raw, _, self.varlink_buf = self.varlink_buf.partition(b'\0')
        reply = json.loads(raw)
        if 'error' in reply:
            raise CallFailed('%s: %s' % (reply['error'], reply.get('parameters')))
        return reply

    def _varlink_pair(self, name, leader):
        # Register adopts the unit the leader is in (allocateUnit defaults to false), as RegisterMachine does.
        self._varlink_call('io.systemd.Machine.Register', {'name': name, 'class': 'container', 'service': 'bench', 'leader': leader})
        self._varlink_call('io.systemd.Machine.Unregister', {'name': name})

    def op_varlink_pairs(self, names, leaders, warmup_names=(), warmup_leaders=()):
        """Register + Unregister pairs over Varlink, one blocking call after the other (as op_pairs over D-Bus)."""
        return self._timed_pairs(self._varlink_pair, names, leaders, warmup_names, warmup_leaders)

    def op_clone_image(self, name, new_name):
        """One CloneImage call, timed as the client sees it (ms)."""
        msg = call_msg('CloneImage', 'ssb', name, new_name, False)
        a = time.perf_counter_ns()
        self._call(msg)
        return {'ms': (time.perf_counter_ns() - a) / 1e6}

    def op_list(self, calls, warmup, expect, method='ListMachines'):
        """ListMachines (or ListImages) latency, one blocking call at a time.
        The first reply is checked (outside the timed calls) to hold `expect`
        entries."""
        first = self._call(call_msg(method))
        got = len(first.get_args_list()[0])
        if got != expect:
            raise CallFailed('%s returned %d entries, expected %d' % (method, got, expect))
        for _ in range(warmup):
            self._call(call_msg(method))
        lat = []
        c0 = cpu_s()
        for _ in range(calls):
            msg = call_msg(method)
            a = time.perf_counter_ns()
            self._call(msg)
            lat.append(time.perf_counter_ns() - a)
        out = summary_ms(lat)
        out['machines'] = got
        out['client_cpu_s'] = cpu_s() - c0
        return out


def main():
    # Die with the process that started us (bench/run.js).
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - a safety net only
        pass
    # Ctrl-C is for bench/run.js to handle: it stops everything and cleans up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    agent = Agent()
    out = sys.stdout
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        op = req.pop('op')
        try:
            res = getattr(agent, 'op_' + op)(**req)
            res['ok'] = True
        except Exception as e:  # noqa: BLE001 - reported to the caller
            res = {'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}
        out.write(json.dumps(res) + '\n')
        out.flush()
        if op == 'quit':
            break
    agent.op_kill_all()


if __name__ == '__main__':
    main()
