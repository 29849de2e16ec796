// Which broker objects an export takes. The rules (docs/migration.md "warren export"):
// - vhosts: every vhost but '/', or those --vhost names (globs; `--vhost /` asks for '/');
// - --include [KIND:]GLOB: when a kind has include patterns, only its objects matching one are taken;
// - --exclude [KIND:]GLOB: objects matching one are left out;
// - the broker's own users (the one warren connects as, guest) are left out unless a `user:`
//   include pattern names them; with --vhost, users are those something in a selected vhost needs;
// - what needs an object that is left out (a permission of a user, a binding to a queue) goes too.
// Globs match the broker's names: `*` any run of characters (`/` included), `?` one character.
import { key } from '../kinds/keys.ts';
import type { Exported } from './types.ts';

export interface Selection {
  /** --vhost globs; none: every vhost but '/'. */
  vhosts: string[];
  include: string[];
  exclude: string[];
  /** The broker's own users, left out unless asked for. */
  ownUsers: string[];
}

export interface Candidate {
  /** The kind's word: vhost, user, queue, topicpermission, ... */
  word: string;
  e: Exported;
  describe: string;
}

export interface LeftOut {
  c: Candidate;
  reason: string;
}

interface Pattern {
  text: string;
  word?: string;
  re: RegExp;
}

export function glob(pattern: string): RegExp {
  const body = [...pattern]
    .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 's');
}

/** `queue:orders.*` is a pattern for queues; a prefix that is no kind's word is part of the glob. */
export function parsePattern(text: string, words: string[]): Pattern {
  const i = text.indexOf(':');
  const word = i > 0 ? text.slice(0, i).toLowerCase() : undefined;
  if (word && words.includes(word)) return { text, word, re: glob(text.slice(i + 1)) };
  return { text, re: glob(text) };
}

const matches = (p: Pattern, c: Candidate) =>
  (!p.word || p.word === c.word) && c.e.matchNames.some((n) => p.re.test(n));

export function select(
  candidates: Candidate[],
  sel: Selection,
  words: string[],
): { kept: Candidate[]; left: LeftOut[] } {
  const include = sel.include.map((t) => parsePattern(t, words));
  const exclude = sel.exclude.map((t) => parsePattern(t, words));
  const vhostGlobs = sel.vhosts.map(glob);
  const vhostSelected = (v: string) => (vhostGlobs.length ? vhostGlobs.some((re) => re.test(v)) : v !== '/');
  const left: LeftOut[] = [];
  const out = (c: Candidate, reason: string) => (left.push({ c, reason }), false);

  // Skipped by their kind, or outside the selected vhosts.
  const inScope = candidates.filter((c) => {
    if (c.e.skip) return out(c, c.e.skip);
    if (c.e.vhost === undefined || vhostSelected(c.e.vhost)) return true;
    return out(
      c,
      c.e.vhost === '/' && !vhostGlobs.length
        ? "in the default vhost '/', left out unless asked for (--vhost /)"
        : `in vhost '${c.e.vhost}', not selected by --vhost`,
    );
  });
  const neededInScope = new Set(inScope.flatMap((c) => (c.e.needs ?? []).map((id) => key(...id))));

  let kept = inScope.filter((c) => {
    const includes = include.filter((p) => !p.word || p.word === c.word);
    if (includes.length && !includes.some((p) => matches(p, c)))
      return out(c, 'matches no --include pattern for it');
    const ex = exclude.find((p) => matches(p, c));
    if (ex) return out(c, `matches --exclude ${ex.text}`);
    if (c.word !== 'user') return true;
    const asked = include.some((p) => p.word === 'user' && matches(p, c));
    const name = c.e.matchNames[0]!;
    if (sel.ownUsers.includes(name) && !asked)
      return out(c, `the broker's own user, left out unless asked for (--include user:${name})`);
    if (
      vhostGlobs.length &&
      !include.some((p) => p.word === 'user') &&
      !neededInScope.has(key(...c.e.identity))
    )
      return out(c, 'has no permission in the selected vhosts');
    return true;
  });

  // What needs an object the export has but leaves out goes too (to a fixed point).
  const known = new Map(candidates.map((c) => [key(...c.e.identity), c]));
  for (let changed = true; changed;) {
    const keptIds = new Set(kept.map((c) => key(...c.e.identity)));
    changed = false;
    kept = kept.filter((c) => {
      const missing = (c.e.needs ?? []).map((id) => key(...id)).find((k) => known.has(k) && !keptIds.has(k));
      if (!missing) return true;
      changed = true;
      return out(c, `needs ${known.get(missing)!.describe}, which is left out`);
    });
  }
  return { kept, left };
}
