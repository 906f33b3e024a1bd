import type { z } from 'zod';

/** Zod issues as `field.path: message` lines, naming unknown keys one by one. */
export function describeIssues(error: z.ZodError): string[] {
  const lines: string[] = [];
  for (const issue of error.issues) {
    const at = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${at ? `${at}.` : ''}${key}: unknown key`);
    } else {
      lines.push(`${at || '(root)'}: ${issue.message}`);
    }
  }
  return lines;
}
