// The shared cases (core, attribution, lifecycle, spawn) on this host's
// own cgroup layout: hybrid on this kind of machine (cgroup2 at
// /sys/fs/cgroup/unified with no controllers, v1 controllers,
// name=systemd), with no systemd as PID 1.
import { attributionCases } from './attribution.case.ts'
import { coreCases } from './core.case.ts'
import { lifecycleCases } from './lifecycle.case.ts'
import { runLayout } from './matrix.ts'
import { SandboxWorld } from './sandbox-world.ts'
import { spawnCases } from './spawn.case.ts'

runLayout('host', [...coreCases, ...attributionCases, ...lifecycleCases, ...spawnCases], () => SandboxWorld.start('host'))
