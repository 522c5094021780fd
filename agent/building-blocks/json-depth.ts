// How deep an app's JSON may nest before the agent stops treating it as JSON. Parsing and
// serialising nested JSON is recursive (a stack overflow past ~10,000 levels) and costly in
// garbage collection long before that (10 KB of brackets cost a worker ~3 ms a body), so JSON
// deeper than this is refused as a request body and carried as bytes everywhere else (a delivery
// as base64, a stored value as text): one app's brackets cost that app's call only.
export const MAX_JSON_DEPTH = 100;

/** True when the JSON text nests objects and arrays at most `max` deep (strings skipped; not a validator). */
export function jsonDepthWithin(data: Buffer | string, max = MAX_JSON_DEPTH): boolean {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === 0x5c) i += 1; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > max) return false;
    } else if (c === 0x5d || c === 0x7d) depth -= 1;
  }
  return true;
}
