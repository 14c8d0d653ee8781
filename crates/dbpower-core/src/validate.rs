//! Parse, don't validate: input checks that turn raw request fields into values the store accepts.
//! Each error names the field so the API can answer 422 with `field` set.

/// A validation failure on one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;
/// bcrypt only reads 72 bytes; longer passwords are refused rather than silently truncated.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// The longest name (organization, team, identity, api key, full name), in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// A trimmed, non-empty name of at most [`MAX_NAME_CHARS`] characters without control characters.
pub fn name(field: &str, raw: &str) -> Result<String, FieldError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if s.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(s.to_string())
}

/// The longest e-mail address (RFC 5321 path limit).
pub const MAX_EMAIL_BYTES: usize = 254;

/// An email address, lower-cased so uniqueness (within an organization) is case-insensitive.
pub fn email(raw: &str) -> Result<String, FieldError> {
    let s = raw.trim().to_ascii_lowercase();
    let bad = || FieldError::new("email", "must be an email address like name@example.com");
    if s.len() > MAX_EMAIL_BYTES || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = s.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || domain.contains('@') || !domain.contains('.') {
        return Err(bad());
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return Err(bad());
    }
    Ok(s)
}

/// A password acceptable for bcrypt: long enough, and not longer than bcrypt reads.
pub fn password(raw: &str) -> Result<(), FieldError> {
    if raw.chars().count() < MIN_PASSWORD_LEN {
        return Err(FieldError::new(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if raw.len() > MAX_PASSWORD_BYTES {
        return Err(FieldError::new(
            "password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Retention in days: 1 to 3650.
pub fn retention_days(days: i32) -> Result<i32, FieldError> {
    if (1..=3650).contains(&days) {
        Ok(days)
    } else {
        Err(FieldError::new(
            "retention_days",
            "must be between 1 and 3650",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email(" Ada@Example.COM ").as_deref(), Ok("ada@example.com"));
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
            "a@b..com",
        ] {
            assert!(email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_and_passwords() {
        assert_eq!(name("name", "  Core  ").as_deref(), Ok("Core"));
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(201)).is_err());
        assert!(name("name", "a\u{0}b").is_err());
        assert!(password("short").is_err());
        assert!(password("long enough pw").is_ok());
        assert!(password(&"x".repeat(73)).is_err());
        assert!(retention_days(0).is_err());
        assert_eq!(retention_days(90), Ok(90));
    }
}
