/**
 * The daemon's V8 heap: keep the young generation at its initial size.
 * V8 doubles the semi-spaces (up to 16 MiB each on 64-bit, so 32 MiB of
 * RSS) whenever a burst of calls makes many objects survive a scavenge,
 * and an idle daemon hardly ever shrinks them back. A daemon's objects are
 * either short-lived (one call's decoding and reply) or live as long as a
 * machine, so a small young generation costs a few more scavenges of
 * little each, and saves most of those 32 MiB.
 *
 * V8 reads this flag each time it would grow the new space, so setting it
 * after start-up takes effect (unlike --max-semi-space-size, which is read
 * once when the heap is made and would need `node --max-semi-space-size`).
 * bin/machined.js sets it before loading the daemon's bundle: loading
 * them alone grew the young generation to 8 MiB of RSS.
 * @module
 */

import { setFlagsFromString } from 'node:v8'

export function keepYoungGenerationSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1')
}
