/** Resolves on the first Ctrl-C or SIGTERM: a command that follows long work stops following and cleans up. */
export function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
