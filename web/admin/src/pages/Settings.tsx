import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { api, call } from "../api/client";
import { invalidate, queries } from "../api/queries";
import { AI_POLICIES, SCRUB_LEVELS, type Schemas } from "../api/types";
import { useUser } from "../auth/AuthContext";
import { EmptyState, Loaded } from "../components/States";
import { ChoiceField, Field, FilterSelect, useFlag } from "../components/ui";
import { PageHead } from "./crud";
import { FormError, formErrors, named, useOrgChoice } from "./common";

type Org = Schemas["OrganizationView"];

/** The organization's settings (ORG_ADMIN: their own; SUPER_ADMIN: any organization). */
export function Settings() {
  const user = useUser();
  const { isSuper, orgs, query: orgList } = useOrgChoice();
  const [picked, setPicked] = useState<number | null>(null);
  const orgId = isSuper ? (picked ?? orgs[0]?.id ?? null) : (user.organization_id ?? null);
  const org = useQuery({ ...queries.organizations.detail(orgId ?? 0), enabled: orgId !== null });
  const [saved, setSaved] = useFlag(4000);
  // A newer version of the organization (a cached copy refreshed after a change elsewhere) starts the form
  // again from it, so stale values are never saved back over it.
  const form = (
    <Loaded query={org}>
      {(o) => <SettingsForm key={`${o.id}@${o.updated_at}`} org={o} saved={saved} setSaved={setSaved} />}
    </Loaded>
  );
  return (
    <div className="page">
      <PageHead title="Settings" intro="How this organization's queries are kept, scrubbed and analyzed.">
        {isSuper && orgs.length > 0 && (
          <FilterSelect
            label="Organization"
            value={String(orgId ?? "")}
            onChange={(v) => {
              setSaved(false);
              setPicked(Number(v));
            }}
            choices={named(orgs)}
          />
        )}
      </PageHead>
      <nav className="panel sub-pages" aria-label="Alerting">
        <h2>Alerting</h2>
        <ul>
          <li>
            <Link to="/settings/alert-channels">Alert channels</Link>
            <span className="muted small"> · where alerts go: webhooks, Slack, e-mail, PagerDuty; send a test</span>
          </li>
          <li>
            <Link to="/settings/alert-rules">Alert rules</Link>
            <span className="muted small"> · what opens an alert, its thresholds and channels</span>
          </li>
        </ul>
      </nav>
      {isSuper ? (
        // The form waits for the organization list, which names the one shown first.
        <Loaded query={orgList} isEmpty={(d) => d.items.length === 0} empty={<EmptyState title="No organizations" />}>
          {() => form}
        </Loaded>
      ) : (
        form
      )}
    </div>
  );
}

type Settings = Schemas["OrgSettings"];
type SettingsPatch = Schemas["OrgSettingsPatch"];

/** Only the settings that changed: the server keeps the others, and refuses to an organization admin
 * any raise of the platform's limits or AI allowance, so unchanged values are never sent. */
export function settingsChanges(before: Settings, after: Settings): SettingsPatch {
  const patch: SettingsPatch = {};
  if (after.scrub_level !== before.scrub_level) patch.scrub_level = after.scrub_level;
  if (after.ai_policy !== before.ai_policy) patch.ai_policy = after.ai_policy;
  if ((after.rate_limit_per_minute ?? null) !== (before.rate_limit_per_minute ?? null)) {
    patch.rate_limit_per_minute = after.rate_limit_per_minute ?? null;
  }
  if ((after.rate_limit_per_hour ?? null) !== (before.rate_limit_per_hour ?? null)) {
    patch.rate_limit_per_hour = after.rate_limit_per_hour ?? null;
  }
  return patch;
}

function SettingsForm({ org, saved, setSaved }: { org: Org; saved: boolean; setSaved: (saved: boolean) => void }) {
  const qc = useQueryClient();
  const [retention, setRetention] = useState(String(org.retention_days));
  const [scrub, setScrub] = useState(org.settings.scrub_level);
  const [ai, setAi] = useState(org.settings.ai_policy);
  const [perMinute, setPerMinute] = useState(org.settings.rate_limit_per_minute?.toString() ?? "");
  const [perHour, setPerHour] = useState(org.settings.rate_limit_per_hour?.toString() ?? "");
  const save = useMutation({
    mutationFn: () =>
      call(() =>
        api.PATCH("/api/v1/organizations/{id}", {
          params: { path: { id: org.id } },
          body: {
            retention_days: Number(retention),
            settings: settingsChanges(org.settings, {
              scrub_level: scrub,
              ai_policy: ai,
              rate_limit_per_minute: perMinute ? Number(perMinute) : null,
              rate_limit_per_hour: perHour ? Number(perHour) : null,
            }),
          },
        }),
      ),
    onMutate: () => setSaved(false),
    onSuccess: (o) => {
      qc.setQueryData(queries.organizations.detail(o.id).queryKey, o);
      void invalidate(qc, "organization");
      setSaved(true);
    },
  });
  const errs = formErrors(save.error);
  const err = (f: string) => (errs.field === f || errs.field === `settings.${f}` ? errs.fieldMessage : null);
  function submit(e: FormEvent) {
    e.preventDefault();
    save.mutate();
  }
  return (
    <form className="panel form-panel" onSubmit={submit} noValidate aria-label={`Settings of ${org.name}`}>
      <FormError message={errs.form} />
      <h2>Data</h2>
      <Field label="Retention (days)" error={err("retention_days")} hint="Slow queries older than this are deleted.">
        {(p) => <input {...p} type="number" min={1} value={retention} onChange={(e) => setRetention(e.target.value)} />}
      </Field>
      <ChoiceField
        label="Scrubbing level"
        error={err("scrub_level")}
        hint="Strict: no literal is stored. PII only: literals are kept, personal data is redacted."
        value={scrub}
        choices={SCRUB_LEVELS}
        onChange={setScrub}
      />
      <h2>Analysis</h2>
      <ChoiceField
        label="AI policy"
        error={err("ai_policy")}
        hint="Rules only: nothing leaves the platform. LLM allowed: strictly scrubbed SQL may be sent to the configured model. Allowing LLM use is for the platform's administrators."
        value={ai}
        choices={AI_POLICIES}
        onChange={setAi}
      />
      <h2>API rate limits</h2>
      <div className="row-2">
        <Field label="Requests per minute" error={err("rate_limit_per_minute")} hint="Empty: the platform default. Organization admins may only lower it.">
          {(p) => <input {...p} type="number" min={1} value={perMinute} onChange={(e) => setPerMinute(e.target.value)} />}
        </Field>
        <Field label="Requests per hour" error={err("rate_limit_per_hour")} hint="Empty: the platform default">
          {(p) => <input {...p} type="number" min={1} value={perHour} onChange={(e) => setPerHour(e.target.value)} />}
        </Field>
      </div>
      {errs.field && !err(errs.field.replace(/^settings\./, "")) && <FormError message={`${errs.field}: ${errs.fieldMessage}`} />}
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={save.isPending}>
          {save.isPending ? "Saving…" : "Save settings"}
        </button>
        {saved && (
          <span className="notice-inline" role="status">
            Saved.
          </span>
        )}
      </div>
    </form>
  );
}
