/**
 * The few etcd operations the fleet is made of, on the etcd3 library's
 * RPC clients: a transaction of any size that stays one transaction, a
 * single lease keep-alive with a deadline, and a range read of a prefix at
 * one revision, in pages.
 * @module
 */

import { EtcdLeaseInvalidError, GRPCResourceExhastedError } from 'etcd3'
import type { Etcd3, ICompare, IKeyValue, IRequestOp, IResponseHeader, ITxnResponse } from 'etcd3'
import { prefixEnd } from './layout.ts'

/** What the fleet needs of a client (an Etcd3 has it). */
export type EtcdClients = Pick<Etcd3, 'kv' | 'leaseClient' | 'watchClient'>

/** etcd's default --max-txn-ops: no transaction level may hold more operations. */
export const MAX_TXN_OPS = 128

/** The lease is gone from etcd: it expired, was revoked, or etcd lost its data. */
export class LeaseGoneError extends Error {
  constructor(lease: string) {
    super(`etcd no longer knows lease ${lease}`)
    this.name = 'LeaseGoneError'
  }
}

export function isLeaseGone(err: unknown): boolean {
  return err instanceof LeaseGoneError || err instanceof EtcdLeaseInvalidError
}

/**
 * One transaction, however many operations: beyond MAX_TXN_OPS they go in
 * nested transactions (etcd 3.3+), all applied at one revision. etcd lets
 * a nested transaction hold only what its parent leaves of MAX_TXN_OPS
 * (checkTxnRequest()), so k nested ones hold 128 - k each: 4,096
 * operations at most, with k = 64. The operations must not overlap (etcd
 * refuses a put inside a range deleted in the same transaction).
 */
export async function commit(clients: EtcdClients, ops: readonly IRequestOp[], options: { compare?: ICompare[]; deadlineMs?: number } = {}): Promise<ITxnResponse> {
  const compare = options.compare ?? []
  let success: IRequestOp[] = [...ops]
  if (success.length > MAX_TXN_OPS - compare.length) {
    let k = 1
    while (k * (MAX_TXN_OPS - k) < success.length) if (++k > MAX_TXN_OPS / 2) throw new Error(`${ops.length} operations do not fit in one transaction`)
    const size = Math.ceil(success.length / k)
    const nested: IRequestOp[] = []
    for (let i = 0; i < success.length; i += size) nested.push({ request_txn: { success: success.slice(i, i + size) } })
    success = nested
  }
  const callOptions = options.deadlineMs === undefined ? undefined : { deadline: Date.now() + options.deadlineMs }
  return clients.kv.txn({ compare, success, failure: [] }, callOptions)
}

/** etcd's default --max-request-bytes is 1.5 MiB; a transaction stays well below it. */
export const MAX_TXN_BYTES = 1024 * 1024

function opBytes(op: IRequestOp): number {
  const put = op.request_put
  return 64 + (put?.key?.length ?? op.request_delete_range?.key?.length ?? 0) + (put?.value?.length ?? 0)
}

/**
 * `ops` in as few transactions as etcd's limits allow: one (the normal
 * case, atomic) unless they exceed 4,096 operations or MAX_TXN_BYTES. The
 * first carries `compare`; resolves to whether it held, and how many
 * transactions it took.
 */
export async function commitInParts(clients: EtcdClients, ops: readonly IRequestOp[], options: { compare?: ICompare[]; deadlineMs?: number } = {}): Promise<{ succeeded: boolean; header: IResponseHeader | undefined; transactions: number }> {
  const parts: IRequestOp[][] = [[]]
  let bytes = 0
  for (const op of ops) {
    const size = opBytes(op)
    if (parts.at(-1)!.length > 0 && (parts.at(-1)!.length >= 64 * 64 || bytes + size > MAX_TXN_BYTES)) { parts.push([]); bytes = 0 }
    parts.at(-1)!.push(op)
    bytes += size
  }
  let header: IResponseHeader | undefined
  for (const [i, part] of parts.entries()) {
    const res = await commit(clients, part, { ...(i === 0 ? { compare: options.compare ?? [] } : {}), ...(options.deadlineMs === undefined ? {} : { deadlineMs: options.deadlineMs }) })
    header = res.header
    if (!res.succeeded) return { succeeded: false, header, transactions: i + 1 }
  }
  return { succeeded: true, header, transactions: parts.length }
}

/** One LeaseKeepAlive round trip: the lease's TTL and the reply's header; LeaseGoneError when etcd has no such lease. */
export async function keepAliveOnce(clients: EtcdClients, lease: string, deadlineMs: number): Promise<IResponseHeader> {
  const stream = await clients.leaseClient.leaseKeepAlive({ deadline: Date.now() + deadlineMs })
  try {
    const reply = await new Promise<{ TTL: string; header: IResponseHeader }>((resolve, reject) => {
      stream.on('data', resolve)
      stream.on('error', reject)
      stream.on('end', () => reject(new Error('the keep-alive stream ended without an answer')))
      stream.write({ ID: lease })
    })
    if (Number(reply.TTL) <= 0) throw new LeaseGoneError(lease)
    return reply.header
  } finally {
    stream.end()
  }
}

export interface RangeResult {
  readonly kvs: IKeyValue[]
  readonly revision: string
  readonly header: IResponseHeader
}

/**
 * Every key under `prefix` as of one revision. Pages keep each reply
 * bounded; they all read the revision of the first, so the result is one
 * consistent snapshot. A page too large for the client is asked again in
 * halves.
 */
export async function rangePrefix(clients: EtcdClients, prefix: string, options: { pageSize?: number; keysOnly?: boolean } = {}): Promise<RangeResult> {
  const end = prefixEnd(prefix)
  let pageSize = options.pageSize ?? 20_000
  let key = Buffer.from(prefix)
  let revision: string | undefined
  let header: IResponseHeader | undefined
  const kvs: IKeyValue[] = []
  for (;;) {
    let res
    try {
      res = await clients.kv.range({ key, range_end: end, limit: pageSize, ...(revision === undefined ? {} : { revision }), keys_only: options.keysOnly === true })
    } catch (err) {
      if (err instanceof GRPCResourceExhastedError && pageSize > 1) { pageSize = Math.ceil(pageSize / 2); continue }
      throw err
    }
    revision ??= res.header.revision
    header ??= res.header
    kvs.push(...res.kvs)
    const last = res.kvs.at(-1)
    if (!res.more || last === undefined) break
    key = Buffer.concat([last.key, Buffer.from([0])])
  }
  return { kvs, revision: revision ?? '0', header }
}
