//! The settings' loading: the keys table against the struct, layers, legacy keys, errors, production.

use super::layers::{KEYS, LEGACY};
use super::sections::LlmProvider;
use super::*;

/// The field names serde asks for when it deserializes `T` (a probe that records them and stops).
fn fields_of<T: serde::de::DeserializeOwned>() -> Vec<&'static str> {
    struct Probe<'a>(&'a mut Vec<&'static str>);
    impl<'de> serde::Deserializer<'de> for Probe<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("probe"))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.extend_from_slice(fields);
            Err(serde::de::Error::custom("probe"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields = Vec::new();
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

#[test]
fn the_keys_table_is_the_settings_struct() {
    let sections = [
        ("login", fields_of::<LoginSettings>()),
        ("llm", fields_of::<LlmSettings>()),
        ("alerts", fields_of::<AlertSettings>()),
        ("rate_limit", fields_of::<RateLimitSettings>()),
        ("serve", fields_of::<ListenSettings>()),
        ("gateway", fields_of::<GatewaySettings>()),
        ("backend", fields_of::<ListenSettings>()),
        ("analyzer", fields_of::<ListenSettings>()),
    ];
    let mut want = std::collections::BTreeSet::new();
    for f in fields_of::<Settings>() {
        if !sections.iter().any(|(s, _)| s == &f) {
            want.insert(f.to_string());
        }
    }
    for (section, fields) in &sections {
        assert!(!fields.is_empty(), "{section}");
        want.extend(fields.iter().map(|f| format!("{section}.{f}")));
    }
    let have: std::collections::BTreeSet<String> =
        KEYS.iter().map(|(k, _)| k.to_string()).collect();
    assert_eq!(
        have, want,
        "KEYS (environment names) and the settings struct differ"
    );
    for (old, news) in LEGACY {
        assert!(!have.contains(*old), "{old} is both current and legacy");
        assert!(
            news.iter().all(|n| have.contains(*n)),
            "{old} moves to {news:?}"
        );
    }
}

#[test]
fn bad_values_name_their_setting() {
    for (key, value, says) in [
        (
            "DBPOWER_RATE_LIMIT__ON_REDIS_FAILURE",
            "sometimes",
            "rate_limit.on_redis_failure",
        ),
        ("DBPOWER_LLM__PROVIDER", "gpt", "llm.provider"),
        ("DBPOWER_SERVE__LISTEN", "localhost", "serve.listen"),
        (
            "DBPOWER_BACKEND__LISTEN",
            "127.0.0.1:99999",
            "backend.listen",
        ),
        // A legacy key's bad value names what was set, and where it was read.
        (
            "DBPOWER_ANALYZER_LISTEN",
            "127.0.0.1:x",
            "analyzer.listen (DBPOWER_ANALYZER_LISTEN, read as DBPOWER_ANALYZER__LISTEN)",
        ),
        (
            "DBPOWER_CORS_ORIGINS",
            "https://a.example, admin.example.com",
            "cors_origins",
        ),
    ] {
        let err = Settings::load_from(None, env(&[(key, value)]), &Overrides::default())
            .expect_err(key)
            .to_string();
        assert!(err.contains(says) && err.contains(key), "{key}: {err}");
    }
    let (s, _) = Settings::load_from(
        None,
        env(&[
            (
                "DBPOWER_CORS_ORIGINS",
                " https://a.example , http://b.example:8080 ,",
            ),
            ("DBPOWER_LLM__PROVIDER", ""),
        ]),
        &Overrides::default(),
    )
    .expect("valid");
    assert_eq!(
        s.cors_origins,
        ["https://a.example", "http://b.example:8080"]
    );
    assert_eq!(s.llm.provider, LlmProvider::None);
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn layers_apply_in_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "demo = false\n[serve]\nlisten = \"0.0.0.0:1\"\n[login]\nwindow_secs = 60\n",
    )
    .expect("write");
    let (s, w) = Settings::load_from(
        Some(&file),
        env(&[
            ("DBPOWER_SERVE__LISTEN", "0.0.0.0:2"),
            ("DBPOWER_LOGIN__MAX_FAILURES_PER_IP", "9"),
            ("DBPOWER_TEST_X", "y"),
            ("DBPOWER_NOPE", "1"),
        ]),
        &Overrides::default(),
    )
    .expect("load");
    assert_eq!(
        s.listen_of(Role::Platform).to_string(),
        "0.0.0.0:2",
        "env beats file"
    );
    assert_eq!(s.login.window_secs, 60);
    assert_eq!(s.login.max_failures_per_ip, 9);
    assert_eq!(s.demo, Some(false));
    assert_eq!(w, vec!["ignoring unknown setting DBPOWER_NOPE".to_string()]);
    let (s, _) = Settings::load_from(
        Some(&file),
        env(&[("DBPOWER_SERVE__LISTEN", "0.0.0.0:2")]),
        &Overrides {
            listen: Some("0.0.0.0:3".into()),
            ..Default::default()
        },
    )
    .expect("load");
    assert_eq!(
        s.listen_of(Role::Platform).to_string(),
        "0.0.0.0:3",
        "flags beat env"
    );
    assert_eq!(
        s.listen_of(Role::Gateway).to_string(),
        "127.0.0.1:8080",
        "the serve flag is serve's alone"
    );
}

#[test]
fn legacy_listen_keys_still_apply_with_a_warning() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("c.toml");
    // The old flat keys, in a file and in the environment.
    std::fs::write(
        &file,
        "listen = \"0.0.0.0:1\"\n[gateway]\nlisten = \"0.0.0.0:9\"\n",
    )
    .expect("write");
    let (s, w) = Settings::load_from(
        Some(&file),
        env(&[
            ("DBPOWER_BACKEND_LISTEN", "0.0.0.0:2"),
            ("DBPOWER_ANALYZER_LISTEN", "0.0.0.0:3"),
            ("DBPOWER_ANALYZER__LISTEN", "0.0.0.0:4"),
        ]),
        &Overrides::default(),
    )
    .expect("load");
    let listens = [Role::Platform, Role::Gateway, Role::Backend, Role::Analyzer]
        .map(|r| s.listen_of(r).to_string());
    assert_eq!(
        listens,
        ["0.0.0.0:1", "0.0.0.0:9", "0.0.0.0:2", "0.0.0.0:4"],
        "a legacy key fills only what no layer sets"
    );
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(
        w.iter().any(|m| m.contains("DBPOWER_LISTEN")
            && m.contains("DBPOWER_SERVE__LISTEN")
            && m.contains("DBPOWER_GATEWAY__LISTEN")),
        "{w:?}"
    );
}

#[test]
fn typos_in_files_and_bad_values_are_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "lisen = \"x\"\n").expect("write");
    assert!(Settings::load_from(Some(&file), env(&[]), &Overrides::default()).is_err());
    assert!(
        Settings::load_from(
            None,
            env(&[("DBPOWER_DEMO", "maybe")]),
            &Overrides::default()
        )
        .is_err()
    );
    assert!(
        Settings::load_from(
            None,
            env(&[("DBPOWER_ENV", "staging")]),
            &Overrides::default()
        )
        .is_err()
    );
}

#[test]
fn production_refuses_defaults() {
    let (s, _) = Settings::load_from(
        None,
        env(&[("DBPOWER_ENV", "production")]),
        &Overrides::default(),
    )
    .expect("load");
    let err = s.check().expect_err("must refuse").to_string();
    assert!(
        err.contains("DBPOWER_JWT_SECRET")
            && err.contains("PostgreSQL")
            && err.contains("DBPOWER_MASTER_KEY"),
        "{err}"
    );
    let (s, _) = Settings::load_from(
        None,
        env(&[
            ("DBPOWER_ENV", "production"),
            ("DBPOWER_JWT_SECRET", "changeme-changeme-changeme-changeme"),
            ("DBPOWER_DATABASE_URL", "postgres://x@y/z"),
            ("DBPOWER_MASTER_KEY", &"ab".repeat(32)),
        ]),
        &Overrides::default(),
    )
    .expect("load");
    assert!(
        s.check()
            .expect_err("default secret")
            .to_string()
            .contains("known default")
    );
    let (s, _) = Settings::load_from(
        None,
        env(&[
            ("DBPOWER_ENV", "production"),
            ("DBPOWER_JWT_SECRET", &"k7".repeat(20)),
            ("DBPOWER_DATABASE_URL", "postgres://x@y/z"),
            ("DBPOWER_MASTER_KEY", &"ab".repeat(32)),
        ]),
        &Overrides::default(),
    )
    .expect("load");
    s.check()
        .expect("a complete production configuration starts");
    assert!(!s.demo_enabled());
}
