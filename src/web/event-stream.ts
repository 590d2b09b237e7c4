/**
 * GET /api/events: server-sent events of the machine list. First a
 * `snapshot` (every machine and its samples so far), then `new`,
 * `changed`, `removed` as machined reports them and `samples` once a
 * second: a page never re-reads the whole list. A reader that falls
 * behind by more than MAX_QUEUED events is cut off (it reconnects and gets
 * a fresh snapshot), so a stalled client cannot make us hold its backlog.
 * @module
 */

import type { Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import { LimitsExceededError } from '../protocol/errors.ts'
import { apiError } from './api-errors.ts'
import type { EventPayloads, EventType } from './api-types.ts'
import type { SourceHub } from './hub.ts'

const MAX_QUEUED = 256
const KEEPALIVE_MS = 15_000

/** How many streams may be open at once; shared by every request. */
export class StreamLimit {
  readonly max: number
  open = 0

  constructor(max: number) {
    this.max = max
  }
}

export function eventStream(c: Context, hub: SourceHub, limit: StreamLimit): Response {
  if (limit.open >= limit.max) {
    const e = apiError(new LimitsExceededError(`Too many event streams (at most ${limit.max})`))
    return c.json(e.body, e.status)
  }
  limit.open++
  c.header('Cache-Control', 'no-store')
  return streamSSE(c, async (stream) => {
    let queued = 0
    let chain = Promise.resolve()
    let unsubscribe = (): void => undefined
    const done = new Promise<void>((resolve) => {
      stream.onAbort(() => resolve())
      const send = <T extends EventType>(event: T, payload: EventPayloads[T]): void => {
        if (stream.aborted || stream.closed) return
        if (++queued > MAX_QUEUED) { resolve(); return }
        chain = chain.then(() => stream.writeSSE({ event, data: JSON.stringify(payload) })).then(() => { queued-- }, () => resolve())
      }
      // Both at once, synchronously: no event can fall between the snapshot and the subscription.
      send('snapshot', hub.snapshot())
      unsubscribe = hub.subscribe(send)
    })
    const keepalive = setInterval(() => {
      chain = chain.then(() => stream.write(': keepalive\n\n')).then(() => undefined, () => undefined)
    }, KEEPALIVE_MS)
    try {
      await done
    } finally {
      clearInterval(keepalive)
      unsubscribe()
      limit.open--
    }
  })
}
