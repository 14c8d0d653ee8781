/** A small SQL tokenizer for highlighting scrubbed statements (no HTML strings: React renders spans). */

export type TokenKind = "keyword" | "string" | "number" | "placeholder" | "comment" | "punct" | "ident" | "space";

export interface Token {
  kind: TokenKind;
  text: string;
}

const KEYWORDS = new Set(
  (
    "select from where and or not in is null like ilike between exists join inner left right full outer cross on using " +
    "group by order having limit offset union all distinct as asc desc insert into values update set delete create " +
    "alter drop table index view with recursive case when then else end returning for lock share nowait skip locked " +
    "interval count sum avg min max coalesce cast true false primary key foreign references default concurrently " +
    "explain analyze begin commit rollback straight_join lateral window over partition rows range fetch first next only"
  ).split(" "),
);

const RULES: Array<[TokenKind, RegExp]> = [
  ["space", /^\s+/],
  ["comment", /^(--[^\n]*|\/\*[\s\S]*?\*\/)/],
  ["string", /^('(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")/],
  ["placeholder", /^(\?|\$\d+|:[a-zA-Z_]\w*)/],
  ["number", /^\d+(\.\d+)?/],
  ["ident", /^(`[^`]*`|[a-zA-Z_][\w$]*)/],
  ["punct", /^[^\s\w]/],
];

export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let rest = sql;
  while (rest.length > 0) {
    let matched = false;
    for (const [kind, re] of RULES) {
      const m = re.exec(rest);
      if (m && m[0].length > 0) {
        const text = m[0];
        const k = kind === "ident" && KEYWORDS.has(text.toLowerCase()) ? "keyword" : kind;
        const last = out[out.length - 1];
        if (last && last.kind === k && (k === "space" || k === "punct")) last.text += text;
        else out.push({ kind: k, text });
        rest = rest.slice(text.length);
        matched = true;
        break;
      }
    }
    if (!matched) {
      out.push({ kind: "punct", text: rest[0] ?? "" });
      rest = rest.slice(1);
    }
  }
  return out;
}
