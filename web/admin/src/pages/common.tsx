/** Pieces the management pages share: option lists, the organization picker, form error mapping. */
import { useQuery } from "@tanstack/react-query";
import { ApiError, describeError } from "../api/errors";
import { PICKER_SIZE, queries } from "../api/queries";
import { useUser } from "../auth/AuthContext";
import { Field, Options } from "../components/ui";

/** Lists for pickers: the first 200 (the API's page limit). */
export function useOrganizations(enabled = true) {
  return useQuery({ ...queries.organizations.list({ per_page: PICKER_SIZE }), enabled });
}

export function useTeams(enabled = true) {
  return useQuery({ ...queries.teams.list({ per_page: PICKER_SIZE }), enabled });
}

export function useIdentities(enabled = true) {
  return useQuery({ ...queries.identities.list({ per_page: PICKER_SIZE }), enabled });
}

/** A super admin picks the organization; everyone else works in their own. */
export function useOrgChoice() {
  const user = useUser();
  const isSuper = user.role === "SUPER_ADMIN";
  const query = useOrganizations(isSuper);
  const orgs: { id: number; name: string }[] = query.data?.items ?? [];
  return { isSuper, orgs, query };
}

/** Organizations, teams or identities as the choices of a select. */
export function named(items: readonly { id: number; name: string }[]) {
  return items.map((i) => ({ value: i.id, label: i.name }));
}

export function orgName(orgs: { id: number; name: string }[], id: number | null | undefined): string {
  if (id === null || id === undefined) return "—";
  return orgs.find((o) => o.id === id)?.name ?? `#${id}`;
}

/** Splits an API error into a field message (shown under the field) and a form-level message. */
export function formErrors(e: unknown): { field?: string; fieldMessage?: string; form?: string } {
  if (!e) return {};
  if (e instanceof ApiError && e.field) return { field: e.field, fieldMessage: e.message };
  return { form: describeError(e) };
}

export function FormError({ message }: { message?: string | null }) {
  if (!message) return null;
  return (
    <p className="form-error" role="alert">
      {message}
    </p>
  );
}

/** The organization picker a super admin sees in create forms. */
export function OrgField({
  orgs,
  value,
  onChange,
  error,
}: {
  orgs: { id: number; name: string }[];
  value: string;
  onChange: (v: string) => void;
  error?: string | null;
}) {
  return (
    <Field label="Organization" error={error}>
      {(p) => (
        <select {...p} value={value} onChange={(e) => onChange(e.target.value)}>
          <option value="">Choose…</option>
          <Options choices={named(orgs)} />
        </select>
      )}
    </Field>
  );
}

/** The `<option>`s of a team picker; a super admin who chose an organization sees only its teams. */
export function TeamOptions({
  teams,
  org,
}: {
  teams: { id: number; name: string; organization_id: number }[] | undefined;
  org?: string;
}) {
  return <Options choices={named((teams ?? []).filter((t) => !org || String(t.organization_id) === org))} />;
}
