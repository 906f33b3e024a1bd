import { Client, Connection } from '@temporalio/client';
import type { Settings } from '../core/settings';

/** A client for the configured Temporal; the error says where it looked and how to start one. */
export async function connectClient(settings: Settings): Promise<{ client: Client; close(): Promise<void> }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: settings.temporal.address, connectTimeout: '5s' });
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${settings.temporal.address} (${(err as Error).message}). ` +
        'Start the local stack with `npx diffubias dev`, or set TEMPORAL_ADDRESS.',
    );
  }
  return { client: new Client({ connection, namespace: settings.temporal.namespace }), close: () => connection.close() };
}
