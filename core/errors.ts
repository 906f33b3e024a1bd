/**
 * Errors the engines throw, free of Temporal. The activity layer maps them onto Temporal failures:
 * BadInputError and EngineMissingError become non-retryable, anything else is retried.
 */
export class BadInputError extends Error {
  override readonly name = 'BadInputError';
  /** The file, key or config field at fault. */
  readonly where: string;
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.where = where;
  }
}

export class EngineMissingError extends Error {
  override readonly name = 'EngineMissingError';
  constructor(readonly stage: string) {
    // Workers get their engines injected (createActivities): one started without this stage's.
    super(`stage ${stage} has no engine on this worker: start it with the product engines (diffubias worker) or give it one`);
  }
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[], source?: string) {
    super(`invalid ${source ? `config in ${source}` : 'config'}:\n  ${problems.join('\n  ')}`);
  }
}
