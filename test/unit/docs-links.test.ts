// Every relative link in README.md and docs/ leads somewhere: the file or directory exists, and a
// #fragment names a heading of the markdown file it points into (as GitHub makes heading anchors).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

const markdownUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? markdownUnder(p) : p.endsWith('.md') ? [p] : [];
  });

/** The text outside fenced and indented code blocks, line by line (code lines blanked). */
export function proseLines(text: string): string[] {
  let fence: string | undefined;
  let prevBlank = true;
  let inIndented = false;
  return text.split('\n').map((line) => {
    const f = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (fence) {
      if (f && f[1]![0] === fence[0] && f[1]!.length >= fence.length && !line.trim().slice(f[1]!.length))
        fence = undefined;
      return '';
    }
    if (f) {
      fence = f[1];
      return '';
    }
    const blank = line.trim() === '';
    // An indented code block starts after a blank line (list items' continuation lines are not
    // told apart here, which only makes the check skip a few lines).
    if (/^( {4}|\t)/.test(line) && (prevBlank || inIndented)) {
      inIndented = true;
      prevBlank = blank;
      return '';
    }
    if (!blank) inIndented = false;
    prevBlank = blank;
    return line;
  });
}

/** GitHub's anchor for a heading's text (github-slugger): lower case, punctuation dropped, spaces to '-'. */
export function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links keep their text
    .replace(/`/g, '')
    .replace(/\\(.)/g, '$1')
    .replace(/<[^>]+>/g, '');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors a markdown file's headings make, duplicates numbered as GitHub numbers them. */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of proseLines(text)) {
    const h = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const base = slug(h[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** The link targets of a markdown text, outside code: inline links and images. */
export function links(text: string): string[] {
  const out: string[] = [];
  for (const line of proseLines(text)) {
    const prose = line.replace(/(`+)[\s\S]*?\1/g, ''); // inline code spans
    for (const m of prose.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+"[^"]*")?\s*\)/g))
      out.push(m[1]!.replace(/^<|>$/g, ''));
  }
  return out;
}

const files = [join(ROOT, 'README.md'), ...markdownUnder(join(ROOT, 'docs'))];

describe('links in README.md and docs/', () => {
  it('finds the pages', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it.each(files.map((f) => [relative(ROOT, f), f]))('%s: every relative link resolves', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    const broken: string[] = [];
    for (const target of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [path, fragment] = target.split('#', 2) as [string, string | undefined];
      const into = path ? resolve(dirname(file), decodeURIComponent(path)) : file;
      if (!existsSync(into)) {
        broken.push(`${target}: ${relative(ROOT, into)} does not exist`);
        continue;
      }
      if (fragment === undefined) continue;
      if (!into.endsWith('.md')) {
        broken.push(`${target}: an anchor into a file that is not markdown`);
        continue;
      }
      if (!anchors(readFileSync(into, 'utf8')).has(decodeURIComponent(fragment)))
        broken.push(`${target}: no heading makes #${fragment} in ${relative(ROOT, into)}`);
    }
    expect(broken).toEqual([]);
  });
});

describe('the link checker', () => {
  it('makes anchors as GitHub does', () => {
    expect(slug('Deletion: what is deleted, and when')).toBe('deletion-what-is-deleted-and-when');
    expect(slug('`spec.tls.ca`')).toBe('spectlsca');
    expect(slug("An endpoint and an administrator's Secret")).toBe(
      'an-endpoint-and-an-administrators-secret',
    );
    expect([...anchors('# A\n\n## A\n\n```\n# not a heading\n```\n')]).toEqual(['a', 'a-1']);
  });

  it('reads links outside code only', () => {
    const text =
      'see [a](a.md#x) and `[b](b.md)`\n\n```\n[c](c.md)\n```\n\n    [d](d.md)\n\n![e](<e f.png>)\n';
    expect(links(text)).toEqual(['a.md#x', 'e f.png']);
  });
});
