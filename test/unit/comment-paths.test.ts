/**
 * Comments and docs that name a file or folder of this project name one that exists: a comment
 * that points at a moved or deleted file sends the reader nowhere.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..', '..');
/** The project's top-level folders and documents: a path starting with one of them is this project's. */
const TOP = ['activities', 'cli', 'core', 'datasets', 'docker', 'docs', 'engines', 'lib', 'models', 'scripts', 'stages', 'test', 'tools', 'workers', 'workflows'];
const TOP_FILES = ['ARCHITECTURE.md', 'README.md', 'MODEL_CARD.md', 'package.json'];
const PATH = new RegExp(`(?<![\\w.@/-])((?:${TOP.join('|')})/[\\w./-]*\\w/?|${TOP_FILES.map((f) => f.replace('.', '\\.')).join('|')})(?![\\w/-])`, 'g');

function trackedFiles(): string[] {
  return execFileSync('git', ['ls-files', '*.ts', '*.mts', '*.sh', '*.py', '*.md'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n').filter((f) => f && !f.startsWith('test/fixtures/'));
}

/** The text a reader takes as prose: comments in code, the whole of a Markdown file. */
function prose(file: string, text: string): string[] {
  if (file.endsWith('.md')) return text.split('\n');
  const comments = file.endsWith('.py') || file.endsWith('.sh') ? text.match(/#[^\n]*/g) : text.match(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g);
  return (comments ?? []).flatMap((c) => c.split('\n'));
}

describe('paths named in comments and docs', () => {
  it('exist (from the project root, or from the naming file)', () => {
    const missing: string[] = [];
    for (const file of trackedFiles()) {
      for (const line of prose(file, readFileSync(join(ROOT, file), 'utf8'))) {
        // Another repository's file (`owner/repo` … `path`) or a URL is not ours to check.
        if (/https?:\/\/|s3:\/\/|\b[\w-]+\/[\w-]+ `|github\.com|alinlab|seanko29|\bLfF's\b|\bDisEnt's\b/.test(line)) continue;
        for (const [, path] of line.matchAll(PATH)) {
          const clean = path!.replace(/[.,:;)]+$/, '').replace(/<[^>]*>.*$/, '');
          if (clean.includes('*') || clean.includes('<')) continue;
          if (existsSync(join(ROOT, clean)) || existsSync(join(ROOT, dirname(file), clean))) continue;
          missing.push(`${file}: ${clean}`);
        }
      }
    }
    // A path the instructions have the user make (a virtual environment, say) is git-ignored: not missing.
    const paths = [...new Set(missing.map((m) => m.slice(m.indexOf(': ') + 2)))];
    // Asked as a file and as a folder: a folder rule (`tools/.venv/`) matches only the latter.
    const ignored = new Set(paths.length === 0 ? [] : spawnSync('git', ['check-ignore', '--no-index', '--stdin'], { cwd: ROOT, input: paths.flatMap((p) => [p, `${p}/`]).join('\n'), encoding: 'utf8' })
      .stdout.split('\n').filter(Boolean).map((p) => p.replace(/\/$/, '')));
    expect(missing.filter((m) => !ignored.has(m.slice(m.indexOf(': ') + 2)))).toEqual([]);
  });
});
