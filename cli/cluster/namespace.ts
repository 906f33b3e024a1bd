import { Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time';
import { grpc, temporal } from '@temporalio/proto';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from '../../workflows/definitions';
import { sleep } from './processes';

const INDEXED = temporal.api.enums.v1.IndexedValueType;
const TYPE_OF: Readonly<Record<SearchAttributeType, temporal.api.enums.v1.IndexedValueType>> = {
  KEYWORD: INDEXED.INDEXED_VALUE_TYPE_KEYWORD,
  DOUBLE: INDEXED.INDEXED_VALUE_TYPE_DOUBLE,
  INT: INDEXED.INDEXED_VALUE_TYPE_INT,
  TEXT: INDEXED.INDEXED_VALUE_TYPE_TEXT,
  BOOL: INDEXED.INDEXED_VALUE_TYPE_BOOL,
  DATETIME: INDEXED.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: INDEXED.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** Connects once the frontend answers its health check (it listens before its services have joined). */
export async function connectWhenServing(address: string, timeoutMs: number): Promise<Connection> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2000 });
      const health = await connection.healthService.check({});
      if (health.status === grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING) return connection;
      await connection.close();
    } catch (err) {
      last = err;
    }
    await sleep(1000);
  }
  throw new Error(`Temporal at ${address} not serving after ${Math.round(timeoutMs / 1000)} s: ${(last as Error | undefined)?.message ?? 'not SERVING'}`);
}

/**
 * The namespace and the project's search attributes, registered if missing (never re-created, so
 * running it again is harmless). Workers start after it: a run submitted to a namespace without
 * its search attributes is rejected.
 */
export async function ensureNamespace(connection: Connection, namespace: string, retentionDays: number, log: (line: string) => void): Promise<void> {
  const known = await connection.workflowService.describeNamespace({ namespace }).then(() => true, (err: { code?: number }) => {
    if (err.code === 5) return false; // NOT_FOUND
    throw err;
  });
  if (!known) {
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(retentionDays * 86_400_000) });
    log(`temporal: namespace ${namespace} registered (retention ${retentionDays} days)`);
  }
  // The frontend learns of a new namespace through its cache (up to ~10 s): retry until it does.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const listed = await connection.operatorService.listSearchAttributes({ namespace });
      const existing = new Set(Object.keys(listed.customAttributes ?? {}));
      const missing = ALL_SEARCH_ATTRIBUTE_KEYS.filter((key) => !existing.has(key.name));
      if (missing.length > 0) {
        await connection.operatorService.addSearchAttributes({
          namespace,
          searchAttributes: Object.fromEntries(missing.map((key) => [key.name, TYPE_OF[key.type]])),
        });
        log(`temporal: search attributes ${missing.map((k) => k.name).join(', ')} registered`);
      }
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`registering search attributes in ${namespace}: ${(err as Error).message}`);
      await sleep(2000);
    }
  }
}
