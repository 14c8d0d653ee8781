import { useEffect, useRef, useState } from "react";
import { useSearchParams } from "react-router";

/** How long after the last keystroke a typed filter reaches the URL (and so the query). */
export const TYPING_MS = 300;

/** The page number a URL asks for: 1 unless it says a positive integer. */
export function pageParam(params: URLSearchParams): number {
  const n = Number(params.get("page") ?? 1);
  return Number.isInteger(n) && n > 1 ? n : 1;
}

/** `changes` applied to `prev`: empty or `undefined` deletes a key; any change but the page's own goes back
 * to page 1 unless `resetPage` is false. */
export function applyChanges(
  prev: URLSearchParams,
  changes: Record<string, string | undefined>,
  resetPage = true,
): URLSearchParams {
  const next = new URLSearchParams(prev);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === "") next.delete(k);
    else next.set(k, v);
  }
  if (resetPage && !("page" in changes)) next.delete("page");
  return next;
}

/**
 * A list page's filters, kept in the URL (bookmarkable, reloadable); every list page reads them this way.
 *
 * - `update` sets or clears several at once (empty clears) and goes back to page 1 unless the page itself
 *   is among the changes or `resetPage` is false; it replaces the history entry rather than adding one.
 * - `page` / `setPage`: the `page` parameter (absent on page 1).
 * - `typed` names text fields: `text[key]` follows every keystroke, `type(key, value)` writes the trimmed
 *   value to the URL `TYPING_MS` after the last one. When the URL changes otherwise (`clear`, the back
 *   button) the fields follow it.
 */
export function useUrlFilters<K extends string = never>(typed: readonly K[] = []) {
  const [params, setParams] = useSearchParams();
  const timers = useRef(new Map<K, ReturnType<typeof setTimeout>>());
  const [text, setText] = useState(() => Object.fromEntries(typed.map((k) => [k, params.get(k) ?? ""])) as Record<K, string>);

  function update(changes: Record<string, string | undefined>, resetPage = true) {
    setParams((prev) => applyChanges(prev, changes, resetPage), { replace: true });
  }

  function cancelTyping() {
    timers.current.forEach(clearTimeout);
    timers.current.clear();
  }

  function clear() {
    cancelTyping();
    setText(Object.fromEntries(typed.map((k) => [k, ""])) as Record<K, string>);
    setParams(new URLSearchParams(), { replace: true });
  }

  function type(key: K, value: string) {
    setText((t) => ({ ...t, [key]: value }));
    clearTimeout(timers.current.get(key));
    timers.current.set(
      key,
      setTimeout(() => {
        timers.current.delete(key);
        update({ [key]: value.trim() || undefined });
      }, TYPING_MS),
    );
  }

  // A URL changed by something other than typing (clear, back, a link) shows in the fields.
  const inUrl = typed.map((k) => params.get(k) ?? "");
  const inUrlKey = JSON.stringify(inUrl);
  useEffect(() => {
    setText((t) => {
      let next = t;
      typed.forEach((k, i) => {
        const url = inUrl[i] ?? "";
        if (!timers.current.has(k) && t[k].trim() !== url) next = { ...next, [k]: url };
      });
      return next;
    });
    // `inUrlKey` stands for `inUrl`; `typed` is a constant list.
  }, [inUrlKey]);

  useEffect(() => cancelTyping, []);

  const page = pageParam(params);
  const setPage = (p: number) => update({ page: p === 1 ? undefined : String(p) });
  return { params, update, clear, page, setPage, text, type };
}
