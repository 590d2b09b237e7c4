// The shared cases in a Debian guest whose PID 1 is systemd, on pure
// cgroup2 (helpers/systemd-guest.ts), with machined-ts installed and
// started from its shipped unit: scopes are systemd's own units in
// machine.slice, stopped and limited by systemd; systemd-nspawn registers
// without --keep-unit, so machined-ts has systemd make its scope.
import { attributionCases } from './attribution.case.ts'
import { coreCases } from './core.case.ts'
import { GuestWorld } from './guest-world.ts'
import { lifecycleCases } from './lifecycle.case.ts'
import { runLayout } from './matrix.ts'
import { spawnCases } from './spawn.case.ts'

runLayout('systemd', [...coreCases, ...attributionCases, ...lifecycleCases, ...spawnCases], () => GuestWorld.start())
