// Keeping the broker's password out of what the command prints: URLs are shown without their
// password, and error messages pass through redact() with every password the command was given.

/**
 * The user info of a URL as typed: from after "scheme://" to the last '@'. Counted by hand, not
 * with URL: a URL that does not parse (a password with '/', '#' or '@', a bad port) is exactly
 * the one an error message would echo.
 */
function userInfo(raw: string): { start: number; end: number } | undefined {
  const scheme = raw.indexOf('://');
  const start = scheme < 0 ? 0 : scheme + 3;
  const end = raw.lastIndexOf('@');
  return end > start ? { start, end } : undefined;
}

/** The password part of a URL's user info, if it has one (as typed, percent-encoded or not). */
function passwordOf(raw: string): string | undefined {
  const info = userInfo(raw);
  if (!info) return undefined;
  const colon = raw.indexOf(':', info.start);
  return colon >= 0 && colon < info.end ? raw.slice(colon + 1, info.end) : undefined;
}

/** A URL (or what was given as one) fit to print: its password, if any, replaced by ***. */
export function shownUrl(raw: string): string {
  const password = passwordOf(raw);
  if (password === undefined) return raw;
  const info = userInfo(raw)!;
  return `${raw.slice(0, info.end - password.length)}***${raw.slice(info.end)}`;
}

const decoded = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/**
 * Every form in which the command's passwords could show up: as given, percent-encoded, and in a
 * Basic authorization header. From --password (also `--password=`), the password environment
 * variable and the user info of the URLs given.
 */
export function secretsOf(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  names: { url: string; username: string; password: string },
): string[] {
  const passwords: string[] = [];
  const urls: string[] = [];
  const usernames: string[] = [];
  const flag = (name: string, into: string[]) =>
    argv.forEach((a, i) => {
      if (a === `--${name}` && argv[i + 1] !== undefined) into.push(argv[i + 1]!);
      else if (a.startsWith(`--${name}=`)) into.push(a.slice(name.length + 3));
    });
  flag('password', passwords);
  flag('url', urls);
  flag('username', usernames);
  for (const [name, into] of [
    [names.password, passwords],
    [names.url, urls],
    [names.username, usernames],
  ] as const)
    if (env[name] !== undefined) into.push(env[name]!);
  for (const u of urls) {
    const p = passwordOf(u);
    if (p !== undefined) passwords.push(p, decoded(p));
  }
  const out = new Set<string>();
  for (const p of passwords.filter((p) => p !== '')) {
    out.add(p);
    out.add(encodeURIComponent(p));
    for (const u of usernames) out.add(Buffer.from(`${u}:${p}`).toString('base64'));
  }
  return [...out];
}
