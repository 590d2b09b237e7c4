/**
 * Most unit and contract tests need no privilege: `npm run test:unit` runs
 * them as any user. The few that do (another user's process, the host's
 * cgroup tree, device nodes) pass `needsRoot` as their options: run as
 * any other user they are skipped with that reason, and `npm test`, which
 * runs as root, runs them all. Nothing else skips.
 * @module
 */

export const UNPRIVILEGED = process.getuid?.() !== 0

/** node:test options for a test or suite that needs root. */
export const needsRoot: { skip?: string } = UNPRIVILEGED ? { skip: 'needs root (npm test runs it)' } : {}
