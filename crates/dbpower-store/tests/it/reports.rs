//! Weekly report subscriptions on every backend: the channel is checked in the writing statement (an
//! enabled e-mail channel of the organization, organization-wide or the team's own), and a week is
//! queued once however many callers race for it, with exactly one delivery.

use dbpower_core::{OrgId, Scope};
use dbpower_store::*;
use dbpower_testkit::TestDb;
use dbpower_types::ChannelKind;

use crate::ingest::setup;

async fn channel(
    store: &dyn Store,
    org: OrgId,
    name: &str,
    kind: ChannelKind,
    team: Option<i64>,
) -> i64 {
    channel_in(store, org, (name, kind, team), true).await
}

async fn channel_in(
    store: &dyn Store,
    org: OrgId,
    (name, kind, team): (&str, ChannelKind, Option<i64>),
    enabled: bool,
) -> i64 {
    let public = ChannelPublic {
        url: (kind != ChannelKind::Email).then(|| "https://hooks.example.com/x".to_string()),
        to: vec!["team@example.com".into()],
    };
    let new = NewChannel {
        name: name.into(),
        kind,
        team_id: team,
        enabled,
        public,
        secret_ciphertext: None,
    };
    let created = store.insert_channel(org, &new).await.expect("channel");
    created.view.id
}

/// How many subscriptions have not had the week starting `week`.
async fn due(store: &dyn Store, week: &str) -> usize {
    store.due_weekly_reports(week, 10).await.expect("due").len()
}

async fn a_week_is_queued_once(db: &TestDb) {
    let store = db.store().as_ref();
    let (org, _) = setup(store, "reports").await;
    let (other, _) = setup(store, "reports-other").await;
    let team = store
        .insert_team(org, "Payments", None)
        .await
        .expect("team")
        .id;
    let sibling = store
        .insert_team(org, "Search", None)
        .await
        .expect("team")
        .id;
    let mail = channel(store, org, "mail", ChannelKind::Email, None).await;
    let hook = channel(store, org, "hook", ChannelKind::Webhook, None).await;
    let siblings = channel(store, org, "search-mail", ChannelKind::Email, Some(sibling)).await;
    let foreign = channel(store, other, "mail", ChannelKind::Email, None).await;
    let disabled = channel_in(store, org, ("off", ChannelKind::Email, None), false).await;
    for bad in [hook, siblings, foreign, disabled, 999_999] {
        let r = store.set_weekly_report(org, team, bad, 1).await;
        assert!(
            matches!(
                r,
                Err(StoreError::InvalidReference(Reference::ReportChannel))
            ),
            "channel {bad}: {r:?}"
        );
    }
    // A team of another organization is refused the same way.
    let r = store.set_weekly_report(other, team, foreign, 1).await;
    assert!(matches!(r, Err(StoreError::InvalidReference(_))), "{r:?}");
    let own = channel(store, org, "payments-mail", ChannelKind::Email, Some(team)).await;
    let options = store.report_channels(org, team).await.expect("options");
    let names: Vec<&str> = options.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["mail", "payments-mail"],
        "enabled e-mail channels the team may use"
    );
    store
        .set_weekly_report(org, team, own, 1)
        .await
        .expect("the team's own channel");
    store
        .set_weekly_report(org, team, mail, 1)
        .await
        .expect("set");
    let listed = store
        .due_weekly_reports("2026-11-30", 10)
        .await
        .expect("due");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].team_id, listed[0].team_name.as_str()),
        (team, "Payments")
    );
    // Four callers race for the week: one wins.
    let message = serde_json::json!({"event": "report"});
    let now = chrono::Utc::now();
    let race = || store.queue_weekly_report(&listed[0], "2026-11-30", &message, now);
    let (a, b, c, d) = tokio::join!(race(), race(), race(), race());
    let won: Vec<bool> = [a, b, c, d]
        .into_iter()
        .map(|r| r.expect("queue"))
        .collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    assert_eq!(
        (
            due(store, "2026-11-30").await,
            due(store, "2026-12-07").await
        ),
        (0, 1)
    );
    // A backend whose clock is late cannot queue the week before after it.
    let late = store
        .queue_weekly_report(&listed[0], "2026-11-23", &message, now)
        .await;
    assert!(
        !late.expect("late claim"),
        "an older week is never queued after a newer one"
    );
    let claimed = store
        .claim_deliveries(10, std::time::Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].event.as_str(), claimed[0].channel.view.id),
        ("report", mail)
    );
    let finished = store
        .finish_delivery(&claimed[0], &DeliveryOutcome::Sent)
        .await;
    assert!(finished.expect("finish"));
    let view = store
        .weekly_report(&Scope::org(org), team)
        .await
        .expect("view");
    assert_eq!(view.last_week.as_deref(), Some("2026-11-30"));
    // Another organization's scope sees nothing and turns nothing off.
    let foreign_scope = Scope::org(other);
    let seen = store.weekly_report(&foreign_scope, team).await;
    assert!(matches!(seen, Err(StoreError::NotFound)), "{seen:?}");
    let refused = store.delete_weekly_report(&foreign_scope, team).await;
    assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
    store
        .delete_weekly_report(&Scope::org(org), team)
        .await
        .expect("off");
    assert_eq!(due(store, "2026-12-07").await, 0);
    let off = store
        .weekly_report(&Scope::org(org), team)
        .await
        .expect("off");
    assert_eq!(
        (off.enabled, off.last_week.as_deref()),
        (false, Some("2026-11-30"))
    );
    // Turned on again: the week already reported is not sent twice, the next one is due.
    store
        .set_weekly_report(org, team, mail, 1)
        .await
        .expect("again");
    assert_eq!(
        (
            due(store, "2026-11-30").await,
            due(store, "2026-12-07").await
        ),
        (0, 1)
    );
}

on_both_stores!(queued_once, a_week_is_queued_once);
