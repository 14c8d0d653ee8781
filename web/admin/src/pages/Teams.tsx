import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, call } from "../api/client";
import { PICKER_SIZE, queries } from "../api/queries";
import type { Schemas } from "../api/types";
import { can, mayManageWeeklyReport, useUser } from "../auth/AuthContext";
import { EmptyState } from "../components/States";
import { DataTable, Field } from "../components/ui";
import { useOrgChoice, OrgField } from "./common";
import { createdColumn, FormModal, nameColumn, orgColumn, PageHead, PagedTable, RowActions, useConfirmedAction, useEditor, useFormModal, usePagedList } from "./crud";
import { WeeklyReportDialog, WeeklyReportState } from "./WeeklyReport";

type Team = Schemas["TeamView"];

/**
 * The organization's teams. Administrators manage them; a team lead sees its own team. Both set the
 * weekly report of the teams they may (`mayManageWeeklyReport`).
 */
export function Teams() {
  const user = useUser();
  const admin = can(user, "teams");
  const { isSuper, orgs } = useOrgChoice();
  const paged = usePagedList(queries.teams.list);
  // Names the channels the rows' reports go to, for a role that may list them (the dialog lists the
  // channels a team may pick for every role).
  const channels = useQuery({ ...queries.channels.list({ per_page: PICKER_SIZE }), enabled: can(user, "settings") });
  const known = channels.data?.items;
  const [reportOf, setReportOf] = useState<Team | null>(null);
  const editor = useEditor((t: Team | null, close) => <TeamForm team={t} onClose={close} />);
  const remove = useConfirmedAction("team-deleted", (t: Team) =>
    call(() => api.DELETE("/api/v1/teams/{id}", { params: { path: { id: t.id } } })),
  );
  const reports = (t: Team) => mayManageWeeklyReport(user, t.id);
  return (
    <div className="page">
      <PageHead
        title="Teams"
        intro={
          admin
            ? "Teams own identities (the database users or services queries are attributed to). Each can get a weekly report by e-mail."
            : "Your team, and where its weekly report goes."
        }
        action={admin ? "New team" : undefined}
        onAction={editor.create}
      />
      <PagedTable
        {...paged}
        empty={
          <EmptyState title="No teams yet">
            {admin ? "Create a team to group identities and team leads." : "You are not in a team yet."}
          </EmptyState>
        }
      >
        {(items) => (
          <DataTable
            rows={items}
            columns={[
              nameColumn,
              { header: "Description", className: "muted", cell: (t) => t.description ?? "—" },
              orgColumn(isSuper, orgs),
              {
                header: "Weekly report",
                cell: (t) => (reports(t) ? <WeeklyReportState team={t} known={known} /> : <span className="muted">—</span>),
              },
              createdColumn,
            ]}
            actions={(t) => (
              <>
                {reports(t) && (
                  <button type="button" className="btn btn-small" aria-label={`Weekly report of ${t.name}`} onClick={() => setReportOf(t)}>
                    Weekly report
                  </button>
                )}
                {admin && <RowActions onEdit={() => editor.edit(t)} onDelete={() => remove.ask(t)} />}
              </>
            )}
          />
        )}
      </PagedTable>
      {editor.form}
      {reportOf && <WeeklyReportDialog team={reportOf} known={known} onClose={() => setReportOf(null)} />}
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
  const { fieldError, modal } = useFormModal(
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
      {...modal}
      title={team ? `Edit ${team.name}` : "New team"}
      id="team-form"
      submitLabel={team ? "Save" : "Create team"}
      fields={["name", "description", "organization_id"]}
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
