// One shared copy of short texts that thousands of objects repeat (a kind, a vhost, a condition
// reason): each JSON document is parsed on its own, so 10,000 resources or rows held 10,000 copies.

const table = new Map<string, string>();
const MAX_ENTRIES = 4096;
const MAX_LENGTH = 256;

/** s, or the copy of it already kept. The table starts over when full, so rare texts do not fill it. */
export function intern(s: string): string {
  const hit = table.get(s);
  if (hit !== undefined) return hit;
  if (s.length > MAX_LENGTH) return s;
  if (table.size >= MAX_ENTRIES) table.clear();
  table.set(s, s);
  return s;
}

/** An empty arguments table shared by every row without arguments (rows are read only). */
export const NO_ARGUMENTS: Record<string, unknown> = Object.freeze({});
