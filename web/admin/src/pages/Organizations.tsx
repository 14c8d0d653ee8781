import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, call } from "../api/client";
import { queries } from "../api/queries";
import { aiPolicyLabel, scrubLevelLabel, type Schemas } from "../api/types";
import { EmptyState } from "../components/States";
import { Field } from "../components/ui";
import { formatDateTime } from "../lib/format";
import { useUrlFilters } from "../lib/useUrlFilters";
import { FormModal, PageHead, PagedTable, PER_PAGE, RowActions, useConfirmedAction, useFormModal } from "./crud";

type Org = Schemas["OrganizationView"];

export function Organizations() {
  const [editing, setEditing] = useState<Org | "new" | null>(null);
  const { page, setPage } = useUrlFilters();
  const list = useQuery(queries.organizations.list({ page, per_page: PER_PAGE }));
  const remove = useConfirmedAction("organization-deleted", (o: Org) =>
    call(() => api.DELETE("/api/v1/organizations/{id}", { params: { path: { id: o.id } } })),
  );
  return (
    <div className="page">
      <PageHead
        title="Organizations"
        intro="Tenants of this platform. Each one's data is visible only to its own members."
        action="New organization"
        onAction={() => setEditing("new")}
      />
      <PagedTable list={list} page={page} setPage={setPage} empty={<EmptyState title="No organizations" />}>
        {(items) => (
          <table className="table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Scrubbing</th>
                <th>AI policy</th>
                <th className="num">Retention</th>
                <th>Created</th>
                <th>
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((o) => (
                <tr key={o.id}>
                  <td>
                    <strong>{o.name}</strong>
                  </td>
                  <td>{scrubLevelLabel(o.settings.scrub_level)}</td>
                  <td>{aiPolicyLabel(o.settings.ai_policy)}</td>
                  <td className="num">{o.retention_days} days</td>
                  <td>{formatDateTime(o.created_at)}</td>
                  <td className="actions">
                    <RowActions onEdit={() => setEditing(o)} onDelete={() => remove.ask(o)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </PagedTable>
      {editing && <OrgForm org={editing === "new" ? null : editing} onClose={() => setEditing(null)} />}
      {remove.dialog("Delete organization", "Delete organization", (o) => (
        <>
          Delete <strong>{o.name}</strong> and everything it owns (teams, users, keys, queries)? This cannot be undone.
        </>
      ))}
    </div>
  );
}

function OrgForm({ org, onClose }: { org: Org | null; onClose: () => void }) {
  const qc = useQueryClient();
  const [name, setName] = useState(org?.name ?? "");
  const [retention, setRetention] = useState(String(org?.retention_days ?? 90));
  const { mutation, fieldError, errs } = useFormModal(
    () => {
      const retention_days = Number(retention);
      return org
        ? call(() => api.PATCH("/api/v1/organizations/{id}", { params: { path: { id: org.id } }, body: { name, retention_days } }))
        : call(() => api.POST("/api/v1/organizations", { body: { name, retention_days } }));
    },
    "organization",
    (saved) => {
      // What Settings shows for this organization is the saved one from now on.
      qc.setQueryData(queries.organizations.detail(saved.id).queryKey, saved);
      onClose();
    },
  );
  return (
    <FormModal
      title={org ? `Edit ${org.name}` : "New organization"}
      id="org-form"
      submitLabel={org ? "Save" : "Create organization"}
      busy={mutation.isPending}
      errs={errs}
      fields={["name", "retention_days"]}
      onSubmit={() => mutation.mutate()}
      onClose={onClose}
    >
      <Field label="Name" error={fieldError("name")}>
        {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field label="Retention (days)" error={fieldError("retention_days")} hint="Slow queries older than this are deleted.">
        {(p) => <input {...p} type="number" min={1} value={retention} onChange={(e) => setRetention(e.target.value)} />}
      </Field>
    </FormModal>
  );
}
