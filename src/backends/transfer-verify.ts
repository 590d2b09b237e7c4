/**
 * Checking downloads (systemd's pull-common.c: verify_one(), verify_gpg()):
 * a SHA256 line for the file in SHA256SUMS or FILE.sha256, and, for
 * --verify=signature, an OpenPGP signature of that checksum file, checked
 * by gpgv against systemd's keyring: /etc/systemd/import-pubring.gpg if
 * the administrator made one, else /usr/lib/systemd/import-pubring.gpg.
 * SHA256SUMS is signed by SHA256SUMS.gpg next to it; a FILE.sha256 (SUSE's
 * style) carries its signature inline.
 * @module
 */

import { access, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { JobContext } from './transfer-job.ts'
import { startTool } from './transfer-process.ts'

export const USER_KEYRING_PATH = '/etc/systemd/import-pubring.gpg'
export const VENDOR_KEYRING_PATH = '/usr/lib/systemd/import-pubring.gpg'

/** is_checksum_file(). */
export function isChecksumFile(name: string | undefined): boolean {
  return name !== undefined && (name === 'SHA256SUMS' || name.endsWith('.sha256'))
}

/** is_signature_file(): SUSE's .sha256 files are signed inline. */
export function isSignatureFile(name: string | undefined): boolean {
  return name !== undefined && (name === 'SHA256SUMS.gpg' || name.endsWith('.sha256'))
}

/**
 * verify_one()'s test: "HASH *NAME" (binary mode) or "HASH  NAME" (text
 * mode), at the start of a line of `sums`.
 */
export function checksumListed(sums: Buffer, hash: string, name: string): boolean {
  for (const line of [`${hash} *${name}\n`, `${hash}  ${name}\n`]) {
    let at = sums.indexOf(line)
    while (at >= 0) {
      if (at === 0 || sums[at - 1] === 0x0a) return true
      at = sums.indexOf(line, at + 1)
    }
  }
  return false
}

/** The keyring systemd-pull verifies with. */
export async function keyringPath(user = USER_KEYRING_PATH, vendor = VENDOR_KEYRING_PATH): Promise<string> {
  return (await access(user).then(() => true, () => false)) ? user : vendor
}

/**
 * verify_gpg(): gpgv checks `signature` over `payload` (or, without a
 * signature, the signature inline in `payload`). Resolves to whether it
 * checked out; what gpgv says goes to the log.
 */
export async function verifySignature(job: JobContext, keyring: string, payload: Buffer, signature: Buffer | undefined): Promise<boolean> {
  const home = await mkdtemp(join(tmpdir(), 'machined-ts-gpg-'))
  try {
    await writeFile(join(home, 'data'), payload, { mode: 0o600 })
    if (signature !== undefined) await writeFile(join(home, 'data.sig'), signature, { mode: 0o600 })
    const files = signature === undefined ? [join(home, 'data')] : [join(home, 'data.sig'), join(home, 'data')]
    const gpgv = startTool(job, 'gpgv', ['--homedir', home, '--keyring', keyring, '--', ...files])
    const { code } = await gpgv.exited
    return code === 0
  } finally {
    await rm(home, { recursive: true, force: true })
  }
}
