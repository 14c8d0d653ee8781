import type { ReactNode } from "react";
import type { UseQueryResult } from "@tanstack/react-query";
import { describeError } from "../api/errors";

export function LoadingState({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="state" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}

export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  return (
    <div className="state state-error" role="alert">
      <strong>Something went wrong.</strong>
      <span>{describeError(error)}</span>
      {onRetry && (
        <button type="button" className="btn" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <h3>{title}</h3>
      {children && <div className="muted">{children}</div>}
    </div>
  );
}

/**
 * A query's data, or its loading, error or empty state. While a refetch runs the previous data stays on
 * screen; an error replaces it only when there is nothing to show. `loading` and `error` replace the
 * standard states where a page shows them in its own words (a status pill, a labelled spinner).
 */
export function Loaded<T>({
  query,
  isEmpty,
  empty,
  loading,
  error,
  children,
}: {
  query: UseQueryResult<T>;
  isEmpty?: (data: T) => boolean;
  empty?: ReactNode;
  loading?: ReactNode;
  error?: (error: unknown, retry: () => void) => ReactNode;
  children: (data: T) => ReactNode;
}) {
  if (query.isLoading) return <>{loading ?? <LoadingState />}</>;
  if (query.isError && query.data === undefined) {
    const retry = () => void query.refetch();
    return <>{error ? error(query.error, retry) : <ErrorState error={query.error} onRetry={retry} />}</>;
  }
  if (query.data === undefined) return null;
  if (isEmpty?.(query.data)) return <>{empty}</>;
  return <>{children(query.data)}</>;
}
