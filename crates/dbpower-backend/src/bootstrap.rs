//! First start on an empty database: the bootstrap super admin and, in development, the demo organization.

use std::path::Path;

use anyhow::{Context, bail};
use dbpower_core::{OrgId, validate};
use dbpower_store::{NewAuditEntry, NewOrganization, NewUser, Store};
use dbpower_types::{OrgSettings, Role};
use secrecy::ExposeSecret;

use crate::config::{Environment, Settings};
use crate::password::PasswordHasher;

/// The email of the generated development super admin.
pub(crate) const DEV_ADMIN_EMAIL: &str = "admin@dbpower.local";
/// Where a generated development password is written (0600).
pub(crate) const CREDENTIALS_FILE: &str = "bootstrap-admin.txt";
pub(crate) const DEMO_ORG_NAME: &str = "Demo Organization";

/// What start-up should tell the operator about logging in.
#[derive(Debug, Clone)]
pub enum LoginHint {
    /// A super admin was created now with a generated password (print it once).
    Generated {
        email: String,
        password: String,
        file: String,
    },
    /// A super admin was created from DBPOWER_BOOTSTRAP_EMAIL/PASSWORD.
    Configured { email: String },
    /// Users existed already.
    Existing { credentials_file: Option<String> },
}

pub(crate) async fn ensure_super_admin(
    store: &dyn Store,
    settings: &Settings,
    hasher: &PasswordHasher,
) -> anyhow::Result<LoginHint> {
    let credentials = settings.data_dir.join(CREDENTIALS_FILE);
    if store.count_users().await? > 0 {
        let file = credentials
            .exists()
            .then(|| credentials.display().to_string());
        return Ok(LoginHint::Existing {
            credentials_file: file,
        });
    }
    let (email, password, generated) = match (
        &settings.bootstrap_email,
        &settings.bootstrap_password,
    ) {
        (Some(e), Some(p)) => (e.clone(), p.expose_secret().to_string(), false),
        (None, None) if settings.env == Environment::Development => (
            DEV_ADMIN_EMAIL.to_string(),
            crate::secrets::random_hex(12),
            true,
        ),
        (Some(_), None) | (None, Some(_)) => {
            bail!("set both DBPOWER_BOOTSTRAP_EMAIL and DBPOWER_BOOTSTRAP_PASSWORD, or neither")
        }
        (None, None) => bail!(
            "the database has no users: set DBPOWER_BOOTSTRAP_EMAIL and DBPOWER_BOOTSTRAP_PASSWORD to create the first super admin"
        ),
    };
    let email = validate::email(&email)
        .map_err(|e| anyhow::anyhow!("DBPOWER_BOOTSTRAP_EMAIL {}", e.message))?;
    validate::password(&password)
        .map_err(|e| anyhow::anyhow!("DBPOWER_BOOTSTRAP_PASSWORD {}", e.message))?;
    let password_hash = hasher.hash(password.clone()).await?;
    let user = store
        .insert_user(&NewUser {
            email: email.clone(),
            password_hash,
            full_name: Some("Bootstrap administrator".into()),
            role: Role::SuperAdmin,
            organization_id: None,
            team_id: None,
            identity_id: None,
        })
        .await?;
    store
        .append_audit(&system_event(
            "user.bootstrap",
            "user",
            Some(user.view.id.to_string()),
            None,
        ))
        .await?;
    if generated {
        std::fs::create_dir_all(&settings.data_dir)?;
        write_credentials(&credentials, &email, &password)?;
        return Ok(LoginHint::Generated {
            email,
            password,
            file: credentials.display().to_string(),
        });
    }
    Ok(LoginHint::Configured { email })
}

fn write_credentials(path: &Path, email: &str, password: &str) -> anyhow::Result<()> {
    if path.exists() {
        std::fs::remove_file(path).with_context(|| format!("replacing {}", path.display()))?;
    }
    crate::secrets::write_private(path, &format!("email: {email}\npassword: {password}"))
}

/// Creates the demo organization (team, identity) on a database that has no organizations yet.
/// Returns its id when it was created now.
pub(crate) async fn ensure_demo(
    store: &dyn Store,
    settings: &Settings,
) -> anyhow::Result<Option<i64>> {
    if !settings.demo_enabled() || !store.organization_ids().await?.is_empty() {
        return Ok(None);
    }
    let org = store
        .insert_organization(&NewOrganization {
            name: DEMO_ORG_NAME.into(),
            settings: OrgSettings::default(),
            retention_days: 90,
        })
        .await?;
    let oid = OrgId::from_credential(org.id);
    let team = store
        .insert_team(
            oid,
            "Platform Team",
            Some("Owns the demo application's databases"),
        )
        .await?;
    store.insert_identity(oid, team.id, "demo-app").await?;
    store
        .append_audit(&system_event(
            "organization.create",
            "organization",
            Some(org.id.to_string()),
            Some(org.id),
        ))
        .await?;
    Ok(Some(org.id))
}

fn system_event(
    action: &str,
    resource_type: &str,
    resource_id: Option<String>,
    org: Option<i64>,
) -> NewAuditEntry {
    NewAuditEntry {
        organization_id: org,
        actor_user_id: None,
        actor_email: Some("system".into()),
        action: action.into(),
        resource_type: resource_type.into(),
        resource_id,
        outcome: "success".into(),
        request_id: None,
        ip: None,
        details: serde_json::json!({"source": "startup"}),
    }
}
