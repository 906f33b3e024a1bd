/**
 * What an object key may look like: `/`-separated names, none empty, `.` or `..`, no backslash.
 * Checked wherever a key becomes a path (the embedded S3 stores keys as files, a bundle is synced
 * into a folder), so that no key, id or prefix can reach outside its folder.
 */
export function isSafeObjectKey(key: string): boolean {
  return key !== '' && !key.startsWith('/') && !key.includes('\\') && !key.includes('\0') && key.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

/** A listing prefix or a key prefix: empty, or a safe key with an optional trailing `/`. */
export function isSafeKeyPrefix(prefix: string): boolean {
  return prefix === '' || isSafeObjectKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
}
