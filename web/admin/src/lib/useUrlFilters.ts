import { useSearchParams } from "react-router";

/**
 * A page's filters kept in the URL (bookmarkable, reloadable). `update` sets or clears several at once
 * (empty clears) and goes back to page 1 unless the page itself is among the changes or `resetPage` is
 * false; it replaces the history entry rather than adding one per keystroke.
 */
export function useUrlFilters() {
  const [params, setParams] = useSearchParams();
  function update(changes: Record<string, string | undefined>, resetPage = true) {
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        for (const [k, v] of Object.entries(changes)) {
          if (v === undefined || v === "") next.delete(k);
          else next.set(k, v);
        }
        if (resetPage && !("page" in changes)) next.delete("page");
        return next;
      },
      { replace: true },
    );
  }
  const clear = () => setParams(new URLSearchParams(), { replace: true });
  return { params, update, clear };
}
