import { Fragment, useEffect, useId, useRef, useState, type HTMLAttributes, type Key, type ReactNode } from "react";
import { Link } from "react-router";
import { tokenize } from "../lib/sql";
import { formatCount } from "../lib/format";
import { oneOf, type Choice, type DatabaseType, type Severity } from "../api/types";

export function SeverityBadge({ severity }: { severity?: Severity | null }) {
  if (!severity) return <span className="badge badge-none">Not analyzed</span>;
  return <span className={`badge badge-${severity.toLowerCase()}`}>{severity.charAt(0) + severity.slice(1).toLowerCase()}</span>;
}

export function Pill({ tone, children }: { tone: "ok" | "warn" | "bad" | "muted"; children: ReactNode }) {
  return <span className={`pill pill-${tone}`}>{children}</span>;
}

/** The scrubbed statement, highlighted (rendered as text spans: nothing is interpreted as HTML). */
export function SqlBlock({ sql, label = "SQL" }: { sql: string; label?: string }) {
  return (
    <div className="sql-wrap">
      <pre className="sql" aria-label={label} tabIndex={0}>
        <code>
          {tokenize(sql).map((t, i) =>
            t.kind === "space" || t.kind === "ident" ? (
              t.text
            ) : (
              <span key={i} className={`tok-${t.kind}`}>
                {t.text}
              </span>
            ),
          )}
        </code>
      </pre>
      <CopyButton text={sql} label={`Copy ${label}`} />
    </div>
  );
}

/** A statement to run (an index's DDL) as written, with a copy button. */
export function DdlBlock({ sql, label = "DDL" }: { sql: string; label?: string }) {
  return (
    <div className="ddl">
      <pre aria-label={label}>
        <code>{sql}</code>
      </pre>
      <CopyButton text={sql} label={`Copy ${label}`} />
    </div>
  );
}

/**
 * A button that shows or hides `children` (rendered only while open: hidden content is not in the page). `openLabel` replaces `label` while
 * open, when given.
 */
export function Disclosure({
  label,
  openLabel,
  testId,
  children,
}: {
  label: string;
  openLabel?: string;
  testId?: string;
  children: ReactNode;
}) {
  const [open, setOpen] = useState(false);
  const id = useId();
  return (
    <div className="disclosure">
      <button
        type="button"
        className="btn btn-small btn-ghost disclosure-toggle"
        aria-expanded={open}
        aria-controls={id}
        data-testid={testId}
        onClick={() => setOpen((o) => !o)}
      >
        <span aria-hidden="true">{open ? "▾" : "▸"}</span>
        {open ? (openLabel ?? label) : label}
      </button>
      <div id={id} className="disclosure-body" hidden={!open}>
        {open && children}
      </div>
    </div>
  );
}

/** A flag that goes back to `false` `ms` after it is set (a "Copied" or "Saved" notice). */
export function useFlag(ms: number) {
  const [on, setOn] = useState(false);
  useEffect(() => {
    if (!on) return;
    const t = setTimeout(() => setOn(false), ms);
    return () => clearTimeout(t);
  }, [on, ms]);
  return [on, setOn] as const;
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [copied, setCopied] = useFlag(1500);
  return (
    <button
      type="button"
      className="btn btn-small copy"
      aria-label={label}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setCopied(true);
        } catch {
          setCopied(false);
        }
      }}
    >
      {copied ? "Copied" : "Copy"}
    </button>
  );
}

/**
 * Page navigation. A `capped` total is a lower bound (the API stopped counting there): it reads "10,000+"
 * and Next stays enabled past it while the page is full.
 */
export function Pagination({
  page,
  perPage,
  total,
  capped = false,
  shown,
  onPage,
}: {
  page: number;
  perPage: number;
  total: number;
  capped?: boolean;
  /** Items on this page (for a capped total: a full page means there may be more). */
  shown?: number;
  onPage: (page: number) => void;
}) {
  const counted = Math.max(1, Math.ceil(total / perPage));
  const pages = capped ? Math.max(counted, page) : counted;
  const first = total === 0 && !capped ? 0 : (page - 1) * perPage + 1;
  const last = capped ? (page - 1) * perPage + (shown ?? perPage) : Math.min(total, page * perPage);
  const more = capped ? (shown ?? perPage) >= perPage : page < pages;
  const plus = capped ? "+" : "";
  return (
    <nav className="pagination" aria-label="Pagination">
      <span className="muted">
        {formatCount(first)}–{formatCount(last)} of {formatCount(total)}
        {plus}
      </span>
      <button type="button" className="btn btn-small" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span aria-current="page">
        Page {page} of {formatCount(pages)}
        {plus}
      </span>
      <button type="button" className="btn btn-small" disabled={!more} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}

/** A modal dialog: focus moves into it, Escape and the backdrop close it, focus returns afterwards. */
export function Modal({
  title,
  onClose,
  children,
  footer,
  wide,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
}) {
  const id = useId();
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const el = ref.current;
    const focusable = el?.querySelector<HTMLElement>("input, select, textarea, button:not(.modal-x)");
    (focusable ?? el)?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
      if (e.key === "Tab" && el) {
        const items = Array.from(
          el.querySelectorAll<HTMLElement>("button, input, select, textarea, a[href], [tabindex]:not([tabindex='-1'])"),
        ).filter((n) => !n.hasAttribute("disabled"));
        const firstItem = items[0];
        const lastItem = items[items.length - 1];
        if (!firstItem || !lastItem) return;
        if (e.shiftKey && document.activeElement === firstItem) {
          e.preventDefault();
          lastItem.focus();
        } else if (!e.shiftKey && document.activeElement === lastItem) {
          e.preventDefault();
          firstItem.focus();
        }
      }
    };
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("keydown", onKey);
      previous?.focus?.();
    };
  }, [onClose]);
  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        className={`modal${wide ? " modal-wide" : ""}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={id}
        ref={ref}
        tabIndex={-1}
      >
        <header className="modal-head">
          <h2 id={id}>{title}</h2>
          <button type="button" className="modal-x" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </header>
        <div className="modal-body">{children}</div>
        {footer && <footer className="modal-foot">{footer}</footer>}
      </div>
    </div>
  );
}

/**
 * A dialog's footer: Cancel, then the button that acts: `onAct`, or submitting the form `form`; while
 * `busy` it is disabled and says `busyLabel`.
 */
export function DialogButtons({
  onCancel,
  label,
  busy,
  busyLabel = "Saving…",
  onAct,
  form,
  danger,
}: {
  onCancel: () => void;
  label: string;
  busy?: boolean;
  busyLabel?: string;
  onAct?: () => void;
  form?: string;
  danger?: boolean;
}) {
  return (
    <>
      <button type="button" className="btn" onClick={onCancel}>
        Cancel
      </button>
      <button
        type={form ? "submit" : "button"}
        form={form}
        className={danger ? "btn btn-danger" : "btn btn-primary"}
        onClick={onAct}
        disabled={busy}
      >
        {busy ? busyLabel : label}
      </button>
    </>
  );
}

export function ConfirmDialog({
  title,
  message,
  confirmLabel,
  onConfirm,
  onCancel,
  busy,
  error,
}: {
  title: string;
  message: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
  busy?: boolean;
  error?: string | null;
}) {
  return (
    <Modal
      title={title}
      onClose={onCancel}
      footer={<DialogButtons onCancel={onCancel} label={confirmLabel} busy={busy} busyLabel="Working…" onAct={onConfirm} danger />}
    >
      <p>{message}</p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </Modal>
  );
}

export function Field({
  label,
  error,
  hint,
  children,
}: {
  label: string;
  error?: string | null;
  hint?: string;
  children: (props: { id: string; "aria-invalid": boolean; "aria-describedby"?: string }) => ReactNode;
}) {
  const id = useId();
  const describedBy = error ? `${id}-err` : hint ? `${id}-hint` : undefined;
  return (
    <div className={`field${error ? " field-invalid" : ""}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-invalid": Boolean(error), "aria-describedby": describedBy })}
      {error ? (
        <span className="field-error" id={`${id}-err`}>
          {error}
        </span>
      ) : hint ? (
        <span className="field-hint" id={`${id}-hint`}>
          {hint}
        </span>
      ) : null}
    </div>
  );
}

/** A form field choosing one of `choices`. */
export function ChoiceField<T extends string>({
  label,
  error,
  hint,
  value,
  choices,
  onChange,
}: {
  label: string;
  error?: string | null;
  hint?: string;
  value: T;
  choices: readonly Choice<T>[];
  onChange: (value: T) => void;
}) {
  return (
    <Field label={label} error={error} hint={hint}>
      {(p) => (
        <select {...p} value={value} onChange={(e) => onChange(oneOf(e.target.value, choices) ?? value)}>
          <Options choices={choices} />
        </select>
      )}
    </Field>
  );
}

/** A sortable column header (server-side sorts are descending, like pt-query-digest's ranking). */
export function SortHeader({
  label,
  active,
  onClick,
  numeric,
}: {
  label: string;
  active: boolean;
  onClick: () => void;
  numeric?: boolean;
}) {
  return (
    <th aria-sort={active ? "descending" : "none"} className={numeric ? "num" : undefined}>
      <button type="button" className={`sort${active ? " sort-active" : ""}`} onClick={onClick}>
        {label}
        <span aria-hidden="true">{active ? " ▼" : " ↕"}</span>
      </button>
    </th>
  );
}

/** One column of a [`DataTable`]. */
export interface Column<T> {
  /** The header cell's content. */
  header?: ReactNode;
  /** A whole header cell instead of `header` (a `SortHeader`). */
  th?: ReactNode;
  /** A column of numbers: `num` on its header and its cells. */
  numeric?: boolean;
  /** The cells' class (instead of `num`). */
  className?: string;
  cell: (row: T) => ReactNode;
}

/**
 * A table with one row per item. `false` in `columns` leaves that column out (the organization, for all
 * but a super admin); `actions` adds a last column of row buttons. Rows are keyed by their `id` unless
 * `rowKey` says otherwise.
 */
export function DataTable<T>({
  rows,
  columns,
  actions,
  rowKey = (row) => (row as { id: Key }).id,
  rowProps,
  className = "table",
  stale,
  busy,
}: {
  rows: readonly T[];
  columns: readonly (Column<T> | false)[];
  actions?: (row: T) => ReactNode;
  rowKey?: (row: T) => Key;
  rowProps?: (row: T) => HTMLAttributes<HTMLTableRowElement>;
  className?: string;
  /** Placeholder rows of the previous page, shown dimmed while the next one loads. */
  stale?: boolean;
  busy?: boolean;
}) {
  const shown = columns.filter((c): c is Column<T> => c !== false);
  return (
    <table className={`${className}${stale ? " stale" : ""}`} aria-busy={busy}>
      <thead>
        <tr>
          {shown.map((c, i) => (
            <Fragment key={i}>{c.th ?? <th className={c.numeric ? "num" : undefined}>{c.header}</th>}</Fragment>
          ))}
          {actions && (
            <th>
              <span className="sr-only">Actions</span>
            </th>
          )}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={rowKey(row)} {...rowProps?.(row)}>
            {shown.map((c, i) => (
              <td key={i} className={c.className ?? (c.numeric ? "num" : undefined)}>
                {c.cell(row)}
              </td>
            ))}
            {actions && <td className="actions">{actions(row)}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A labelled control in a page's filter bar. */
export function InlineField({ label, grow, children }: { label: string; grow?: boolean; children: ReactNode }) {
  return (
    <label className={`inline-field${grow ? " grow" : ""}`}>
      <span>{label}</span>
      {children}
    </label>
  );
}

/** `<option>`s, one per choice. */
export function Options({ choices }: { choices: readonly { value: string | number; label: string }[] }) {
  return (
    <>
      {choices.map((c) => (
        <option key={c.value} value={c.value}>
          {c.label}
        </option>
      ))}
    </>
  );
}

/** A filter on one of `choices`, or on none: "Any" (`undefined`) comes first. */
export function ChoiceFilter({
  label,
  value,
  choices,
  onChange,
}: {
  label: string;
  value: string | undefined;
  choices: readonly { value: string; label: string }[];
  onChange: (value: string | undefined) => void;
}) {
  return <FilterSelect label={label} value={value ?? ""} onChange={(v) => onChange(v || undefined)} any="Any" choices={choices} />;
}

/** A filter bar's select: first `any` (the empty value) when given, then `choices`. */
export function FilterSelect({
  label,
  value,
  onChange,
  any,
  choices,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  any?: string;
  choices: readonly { value: string | number; label: string }[];
}) {
  return (
    <InlineField label={label}>
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        {any !== undefined && <option value="">{any}</option>}
        <Options choices={choices} />
      </select>
    </InlineField>
  );
}

/** The severity of a query or a class, as a badge. */
export const severityColumn: Column<{ severity?: Severity | null }> = {
  header: "Severity",
  cell: (r) => <SeverityBadge severity={r.severity} />,
};

/** A class's fingerprint, linking to its queries (query id and engine: a MySQL and a PostgreSQL class may share an id). */
export function ClassLink({ c }: { c: { query_id: string; database_type: DatabaseType; fingerprint: string } }) {
  const params = new URLSearchParams({ query_id: c.query_id, database_type: c.database_type });
  return (
    <Link to={`/queries?${params.toString()}`} title={c.fingerprint}>
      {c.fingerprint}
    </Link>
  );
}
