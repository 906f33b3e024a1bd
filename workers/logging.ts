import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';

// Expected with one worker per queue (the workflow queue has no activities, the others no
// workflows), and webpack's bundle listing: neither tells a researcher anything.
const NOISE = [/^No (activities|workflows|Nexus services) registered/, /^asset workflow-bundle/, /^Workflow bundle created/, /^Worker state changed/];

/** Installs the Temporal runtime's logger for CLI processes: one line per entry, noise dropped. */
export function installWorkerLogging(write: (line: string) => void, level: 'INFO' | 'WARN' = 'INFO'): void {
  Runtime.install({
    logger: new DefaultLogger(level, (entry: LogEntry) => {
      if (NOISE.some((re) => re.test(entry.message))) return;
      const meta = entry.meta as { taskQueue?: string; activityType?: string } | undefined;
      const where = meta?.activityType ?? meta?.taskQueue;
      write(`[${entry.level.toLowerCase()}]${where ? ` ${where}:` : ''} ${entry.message.split('\n')[0]}`);
    }),
  });
}
