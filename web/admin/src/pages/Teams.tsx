import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, call } from "../api/client";
import { queries } from "../api/queries";
import type { Schemas } from "../api/types";
import { EmptyState } from "../components/States";
import { Field } from "../components/ui";
import { formatDateTime } from "../lib/format";
import { useUrlFilters } from "../lib/useUrlFilters";
import { orgName, useOrgChoice, OrgField } from "./common";
import { FormModal, PageHead, PagedTable, PER_PAGE, RowActions, useConfirmedAction, useFormModal } from "./crud";

type Team = Schemas["TeamView"];

export function Teams() {
  const { isSuper, orgs } = useOrgChoice();
  const [editing, setEditing] = useState<Team | "new" | null>(null);
  const { page, setPage } = useUrlFilters();
  const list = useQuery(queries.teams.list({ page, per_page: PER_PAGE }));
  const remove = useConfirmedAction("team-deleted", (t: Team) =>
    call(() => api.DELETE("/api/v1/teams/{id}", { params: { path: { id: t.id } } })),
  );
  return (
    <div className="page">
      <PageHead
        title="Teams"
        intro="Teams own identities (the database users or services queries are attributed to)."
        action="New team"
        onAction={() => setEditing("new")}
      />
      <PagedTable list={list} page={page} setPage={setPage} empty={<EmptyState title="No teams yet">Create a team to group identities and team leads.</EmptyState>}>
        {(items) => (
          <table className="table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Description</th>
                {isSuper && <th>Organization</th>}
                <th>Created</th>
                <th>
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((t) => (
                <tr key={t.id}>
                  <td>
                    <strong>{t.name}</strong>
                  </td>
                  <td className="muted">{t.description ?? "—"}</td>
                  {isSuper && <td>{orgName(orgs, t.organization_id)}</td>}
                  <td>{formatDateTime(t.created_at)}</td>
                  <td className="actions">
                    <RowActions onEdit={() => setEditing(t)} onDelete={() => remove.ask(t)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </PagedTable>
      {editing && <TeamForm team={editing === "new" ? null : editing} onClose={() => setEditing(null)} />}
      {remove.dialog("Delete team", "Delete team", (t) => (
        <>
          Delete <strong>{t.name}</strong>? Its identities and the team assignment of its users go with it.
        </>
      ))}
    </div>
  );
}

function TeamForm({ team, onClose }: { team: Team | null; onClose: () => void }) {
  const { isSuper, orgs } = useOrgChoice();
  const [name, setName] = useState(team?.name ?? "");
  const [description, setDescription] = useState(team?.description ?? "");
  const [org, setOrg] = useState("");
  const { mutation, fieldError, errs } = useFormModal(
    () =>
      team
        ? call(() =>
            api.PATCH("/api/v1/teams/{id}", { params: { path: { id: team.id } }, body: { name, description: description || null } }),
          )
        : call(() =>
            api.POST("/api/v1/teams", {
              body: { name, description: description || null, organization_id: isSuper && org ? Number(org) : undefined },
            }),
          ),
    "team",
    onClose,
  );
  return (
    <FormModal
      title={team ? `Edit ${team.name}` : "New team"}
      id="team-form"
      submitLabel={team ? "Save" : "Create team"}
      busy={mutation.isPending}
      errs={errs}
      fields={["name", "description", "organization_id"]}
      onSubmit={() => mutation.mutate()}
      onClose={onClose}
    >
      {isSuper && !team && (
        <OrgField orgs={orgs} value={org} onChange={setOrg} error={fieldError("organization_id")} />
      )}
      <Field label="Name" error={fieldError("name")}>
        {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field label="Description" error={fieldError("description")} hint="Optional">
        {(p) => <input {...p} value={description} onChange={(e) => setDescription(e.target.value)} />}
      </Field>
    </FormModal>
  );
}
