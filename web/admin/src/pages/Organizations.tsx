import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, call } from "../api/client";
import { queries } from "../api/queries";
import { aiPolicyLabel, scrubLevelLabel, type Schemas } from "../api/types";
import { EmptyState } from "../components/States";
import { DataTable, Field } from "../components/ui";
import { createdColumn, FormModal, nameColumn, PageHead, PagedTable, RowActions, useConfirmedAction, useEditor, useFormModal, usePagedList } from "./crud";

type Org = Schemas["OrganizationView"];

export function Organizations() {
  const paged = usePagedList(queries.organizations.list);
  const editor = useEditor((o: Org | null, close) => <OrgForm org={o} onClose={close} />);
  const remove = useConfirmedAction("organization-deleted", (o: Org) =>
    call(() => api.DELETE("/api/v1/organizations/{id}", { params: { path: { id: o.id } } })),
  );
  return (
    <div className="page">
      <PageHead
        title="Organizations"
        intro="Tenants of this platform. Each one's data is visible only to its own members."
        action="New organization"
        onAction={editor.create}
      />
      <PagedTable {...paged} empty={<EmptyState title="No organizations" />}>
        {(items) => (
          <DataTable
            rows={items}
            columns={[
              nameColumn,
              { header: "Scrubbing", cell: (o) => scrubLevelLabel(o.settings.scrub_level) },
              { header: "AI policy", cell: (o) => aiPolicyLabel(o.settings.ai_policy) },
              { header: "Retention", numeric: true, cell: (o) => <>{o.retention_days} days</> },
              createdColumn,
            ]}
            actions={(o) => <RowActions onEdit={() => editor.edit(o)} onDelete={() => remove.ask(o)} />}
          />
        )}
      </PagedTable>
      {editor.form}
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
  const { fieldError, modal } = useFormModal(
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
      {...modal}
      title={org ? `Edit ${org.name}` : "New organization"}
      id="org-form"
      submitLabel={org ? "Save" : "Create organization"}
      fields={["name", "retention_days"]}
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
