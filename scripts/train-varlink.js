// A stand-in io.systemd.Machine for the training run behind mctl's code
// cache (./train-mctl.js): a Unix socket served from the training process
// that answers each NUL-terminated call with what `answer` returns, a list
// of replies streamed with `continues` when the call asked for `more`.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Serves the stand-in. `answer(call)` returns the replies' parameters (an
 * array), or undefined for a method it does not know (MethodNotFound).
 * Resolves to the socket's path and a close() that removes it.
 */
export async function standInVarlink(answer) {
  const dir = mkdtempSync(join(tmpdir(), 'machined-ts-train-'))
  const socket = join(dir, 'io.systemd.Machine')
  const server = createServer((conn) => {
    let pending = Buffer.alloc(0)
    const send = (reply) => conn.write(`${JSON.stringify(reply)}\0`)
    conn.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk])
      for (let end = pending.indexOf(0); end >= 0; end = pending.indexOf(0)) {
        const call = JSON.parse(pending.toString('utf8', 0, end))
        pending = pending.subarray(end + 1)
        const replies = answer(call)
        if (replies === undefined) {
          send({ error: 'org.varlink.service.MethodNotFound', parameters: { method: call.method } })
          continue
        }
        replies.forEach((parameters, i) => send({ parameters, ...(call.more === true && i < replies.length - 1 ? { continues: true } : {}) }))
      }
    })
    conn.on('error', () => undefined)
  })
  await new Promise((resolve, reject) => server.once('error', reject).listen(socket, resolve))
  return {
    path: socket,
    close: () => {
      server.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
