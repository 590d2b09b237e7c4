// The shared cases on a pure cgroup2 view of this host: a private mount
// namespace with the v1 hierarchies unmounted and the host's cgroup2
// hierarchy mounted over /sys/fs/cgroup, no systemd as PID 1. The daemon,
// ps (libsystemd), systemd-cgls and systemd-nspawn all detect a unified
// layout there; its root offers only the controllers no v1 hierarchy has
// bound, so limits the layout cannot enforce are named in the summary.
import { attributionCases } from './attribution.case.ts'
import { coreCases } from './core.case.ts'
import { lifecycleCases } from './lifecycle.case.ts'
import { runLayout } from './matrix.ts'
import { SandboxWorld } from './sandbox-world.ts'
import { spawnCases } from './spawn.case.ts'

runLayout('unified', [...coreCases, ...attributionCases, ...lifecycleCases, ...spawnCases], () => SandboxWorld.start('unified'))
