/**
 * The building blocks of the list pages: the page heading, a paged list (its page number in the URL) with
 * its loading, error and empty states, the columns most lists share, a create-or-edit form in a modal
 * whose API errors land under the right field, and a confirmed delete.
 */
import { useMutation, useQuery, useQueryClient, type QueryKey, type UseQueryOptions, type UseQueryResult } from "@tanstack/react-query";
import { useState, type FormEvent, type ReactNode } from "react";
import { describeError } from "../api/errors";
import { invalidate, type Change, type PageParams } from "../api/queries";
import { useUrlFilters } from "../lib/useUrlFilters";
import { Loaded } from "../components/States";
import { ConfirmDialog, DialogButtons, Modal, Pagination, type Column } from "../components/ui";
import { formatDateTime } from "../lib/format";
import { FormError, formErrors, orgName } from "./common";

export const PER_PAGE = 20;

interface PageOf<T> {
  items: T[];
  total: number;
  /** The total is a lower bound: the API stopped counting there. */
  total_capped?: boolean;
}

/** A management list's current page: the page number is kept in the URL. */
export function usePagedList<D extends PageOf<unknown>, K extends QueryKey>(options: (params: PageParams) => UseQueryOptions<D, Error, D, K>) {
  const { page, setPage } = useUrlFilters();
  const list = useQuery(options({ page, per_page: PER_PAGE }));
  return { list, page, setPage };
}

/** Loading, error and empty states around a paged table, with its pagination. */
export function PagedTable<T>({
  list,
  page,
  setPage,
  perPage = PER_PAGE,
  empty,
  children,
}: {
  list: UseQueryResult<PageOf<T>>;
  page: number;
  setPage: (p: number) => void;
  perPage?: number;
  empty: ReactNode;
  children: (items: T[]) => ReactNode;
}) {
  return (
    <Loaded query={list} isEmpty={(d) => d.items.length === 0} empty={empty}>
      {(d) => (
        <>
          {children(d.items)}
          <Pagination
            page={page}
            perPage={perPage}
            total={d.total}
            capped={d.total_capped}
            shown={d.items.length}
            onPage={setPage}
          />
        </>
      )}
    </Loaded>
  );
}

/**
 * A form in a modal. `save` runs the API call; on success what `change` makes stale is refetched and
 * `onDone` runs (closing the modal). A validation error naming one of `fields` is shown under that field
 * (`fieldError`), any other error above the form.
 */
export function useFormModal<R>(save: () => Promise<R>, change: Change, onDone: (r: R) => void) {
  const qc = useQueryClient();
  const mutation = useMutation({
    mutationFn: save,
    onSuccess: (r) => {
      void invalidate(qc, change);
      onDone(r);
    },
  });
  const errs = formErrors(mutation.error);
  return {
    mutation,
    fieldError: (f: string) => (errs.field === f ? errs.fieldMessage : null),
    errs,
    /** What [`FormModal`] takes from the form's state. */
    modal: { busy: mutation.isPending, errs, onSubmit: () => mutation.mutate() },
  };
}

export function FormModal({
  title,
  id,
  submitLabel,
  busyLabel,
  busy,
  errs,
  fields,
  onSubmit,
  onClose,
  children,
}: {
  title: string;
  id: string;
  submitLabel: string;
  busyLabel?: string;
  busy: boolean;
  errs: ReturnType<typeof formErrors>;
  fields: string[];
  onSubmit: () => void;
  onClose: () => void;
  children: ReactNode;
}) {
  return (
    <Modal
      title={title}
      onClose={onClose}
      footer={<DialogButtons onCancel={onClose} label={submitLabel} busy={busy} busyLabel={busyLabel} form={id} />}
    >
      <form
        id={id}
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          onSubmit();
        }}
        noValidate
      >
        <FormError message={errs.form} />
        {children}
        {errs.field && !fields.includes(errs.field) && <FormError message={`${errs.field}: ${errs.fieldMessage}`} />}
      </form>
    </Modal>
  );
}

/** A delete (or revoke) behind a confirmation; `dialog` renders it while one is pending. */
export function useConfirmedAction<T>(change: Change, run: (item: T) => Promise<unknown>) {
  const qc = useQueryClient();
  const [target, setTarget] = useState<T | null>(null);
  const mutation = useMutation({
    mutationFn: run,
    onSuccess: () => {
      setTarget(null);
      void invalidate(qc, change);
    },
  });
  const dialog = (title: string, confirmLabel: string, message: (item: T) => ReactNode) =>
    target && (
      <ConfirmDialog
        title={title}
        message={message(target)}
        confirmLabel={confirmLabel}
        busy={mutation.isPending}
        error={mutation.isError ? describeError(mutation.error) : null}
        onConfirm={() => mutation.mutate(target)}
        onCancel={() => {
          mutation.reset();
          setTarget(null);
        }}
      />
    );
  return { ask: setTarget, dialog };
}

/** Edit and Delete buttons of a row. */
export function RowActions({ onEdit, onDelete, deleteLabel = "Delete" }: { onEdit?: () => void; onDelete?: () => void; deleteLabel?: string }) {
  return (
    <>
      {onEdit && (
        <button type="button" className="btn btn-small" onClick={onEdit}>
          Edit
        </button>
      )}
      {onDelete && (
        <button type="button" className="btn btn-small btn-danger-ghost" onClick={onDelete}>
          {deleteLabel}
        </button>
      )}
    </>
  );
}

/** A page's heading and introduction; `action` is its main button, `children` more on the right. */
export function PageHead({
  title,
  intro,
  action,
  onAction,
  children,
}: {
  title: string;
  intro: ReactNode;
  action?: string;
  onAction?: () => void;
  children?: ReactNode;
}) {
  return (
    <header className="page-head">
      <div>
        <h1>{title}</h1>
        <p className="muted">{intro}</p>
      </div>
      {children}
      {action && (
        <button type="button" className="btn btn-primary" onClick={onAction}>
          {action}
        </button>
      )}
    </header>
  );
}

/**
 * The create-or-edit form of a list page: `create` and `edit(item)` open it, `form` renders it while open
 * (`render` gets `null` for a new item, and the function that closes it).
 */
export function useEditor<T>(render: (item: T | null, close: () => void) => ReactNode) {
  const [editing, setEditing] = useState<{ item: T | null } | null>(null);
  const close = () => setEditing(null);
  return {
    create: () => setEditing({ item: null }),
    edit: (item: T) => setEditing({ item }),
    form: editing && render(editing.item, close),
  };
}

/** The columns most lists share. */
export const nameColumn: Column<{ name: string }> = { header: "Name", cell: (r) => <strong>{r.name}</strong> };
export const createdColumn: Column<{ created_at: string }> = { header: "Created", cell: (r) => formatDateTime(r.created_at) };

/** The owning organization, in a super admin's lists only. */
export function orgColumn(isSuper: boolean, orgs: { id: number; name: string }[]): Column<{ organization_id?: number | null }> | false {
  return isSuper && { header: "Organization", cell: (r) => orgName(orgs, r.organization_id) };
}
