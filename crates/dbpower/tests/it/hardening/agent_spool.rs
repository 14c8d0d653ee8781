//! The agent loses nothing to one bad statement: an oversized statement is truncated instead of
//! taking its batch of up to 500 neighbours to `rejected/`, a refused batch never overwrites an earlier
//! one, and refusals are counted and make `--once` fail.

use crate::agent::{Platform, agent, count_of, ok, write_config};

fn slow_log_entry(sql: &str) -> String {
    let now = chrono::Utc::now();
    let (time, ts) = (now.format("%y%m%d %H:%M:%S"), now.timestamp());
    format!(
        "# Time: {time}\n# User@Host: app[app] @ localhost []\n# Query_time: 1.500000  Lock_time: 0.000100  Rows_sent: 1  Rows_examined: 1000\nuse test;\nSET timestamp={ts};\n{sql};\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_statement_is_truncated_and_its_neighbours_arrive() {
    let Ok(url) = std::env::var("DBPOWER_TEST_MYSQL_URL") else {
        return;
    };
    let work = tempfile::tempdir().expect("tmp");
    let log = work.path().join("slow.log");
    // Over the platform's 1 MiB statement limit even after scrubbing (column names are kept).
    let huge = format!(
        "SELECT {} FROM dbp_spool_big WHERE id = 5",
        (0..150_000)
            .map(|i| format!("col_{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(huge.len() > 1024 * 1024);
    let mut text = String::new();
    for i in 0..3 {
        text += &slow_log_entry(&format!("SELECT * FROM dbp_spool_small WHERE id = {i}"));
    }
    text += &slow_log_entry(&huge);
    text += &slow_log_entry("SELECT name FROM dbp_spool_after WHERE id = 7");
    std::fs::write(&log, text).expect("log");

    let platform = Platform::start();
    let key = platform.key("Spool Shop").await;
    let source = format!(
        "[[source]]\nname = \"big\"\nkind = \"mysql\"\nurl = \"{url}\"\nmethods = [\"slow_log_file\"]\nlog_path = \"{}\"\nstart_at = \"beginning\"\n",
        log.display()
    );
    let config = write_config(work.path(), &platform, &key, &source);
    ok(&agent(&config, &["--once"]));
    let classes = platform.classes(&key.0).await;
    let short: Vec<_> = classes
        .iter()
        .map(|(s, n)| (s.chars().take(80).collect::<String>(), *n))
        .collect();
    assert_eq!(count_of(&classes, "FROM dbp_spool_small"), 3, "{short:?}");
    assert_eq!(count_of(&classes, "FROM dbp_spool_after"), 1, "{short:?}");
    // The statement was cut before its FROM clause, on a token boundary, and marked.
    let big: Vec<_> = classes
        .iter()
        .filter(|(s, _)| s.starts_with("SELECT col_0, col_1"))
        .collect();
    assert_eq!(big.len(), 1, "{short:?}");
    assert!(big[0].0.ends_with("[TRUNCATED]"), "marked as truncated");
    assert!(big[0].0.len() <= 1024 * 1024);
    assert!(
        std::fs::read_dir(work.path().join("spool/rejected"))
            .expect("rejected dir")
            .next()
            .is_none(),
        "nothing was rejected"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_batches_are_kept_counted_and_fail_the_run() {
    let Ok(url) = std::env::var("DBPOWER_TEST_MYSQL_URL") else {
        return;
    };
    let work = tempfile::tempdir().expect("tmp");
    let platform = Platform::start();
    let key = platform.key("Refused Shop").await;
    // A source with nothing new: this run only ships what the spool already holds.
    let log = work.path().join("empty-slow.log");
    std::fs::write(&log, "").expect("log");
    let source = format!(
        "[[source]]\nname = \"quiet\"\nkind = \"mysql\"\nurl = \"{url}\"\nmethods = [\"slow_log_file\"]\nlog_path = \"{}\"\n",
        log.display()
    );
    let config = write_config(work.path(), &platform, &key, &source);
    let spool = work.path().join("spool");
    std::fs::create_dir_all(spool.join("batches")).expect("batches");
    std::fs::create_dir_all(spool.join("rejected")).expect("rejected");
    let name = "00000000000000000001-1.json";
    // An earlier run's rejection under the same name.
    std::fs::write(spool.join("rejected").join(name), "earlier").expect("earlier");
    let invalid = serde_json::json!({"request_id": "refused-1", "source": "s", "created_at": "2026-12-06T10:00:00Z",
        "queries": [{"sql_text": "SELECT 1", "execution_time_ms": -5.0, "database_type": "mysql"}]});
    std::fs::write(spool.join("batches").join(name), invalid.to_string()).expect("batch");

    let out = agent(&config, &["--once"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a refused batch fails --once: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused by the platform"), "{stderr}");
    let earlier = std::fs::read_to_string(spool.join("rejected").join(name)).expect("earlier kept");
    assert_eq!(
        earlier, "earlier",
        "the earlier rejection is not overwritten"
    );
    let kept: Vec<String> = std::fs::read_dir(spool.join("rejected"))
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        kept.len(),
        3,
        "earlier, the new batch and its reason: {kept:?}"
    );
    let reason = kept
        .iter()
        .find(|n| n.ends_with(".reason.txt"))
        .expect("reason file");
    assert!(
        std::fs::read_to_string(spool.join("rejected").join(reason))
            .expect("reason")
            .contains("422"),
        "the reason names the platform's answer"
    );
    let stats = std::fs::read_to_string(spool.join("stats.json")).expect("stats");
    assert!(stats.contains("\"rejected_batches\":1"), "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn log_rotation_and_copytruncate_lose_no_event() {
    use std::io::Write;
    let Ok(url) = std::env::var("DBPOWER_TEST_MYSQL_URL") else {
        return;
    };
    let work = tempfile::tempdir().expect("tmp");
    let logs = work.path().join("logs");
    std::fs::create_dir_all(&logs).expect("logs");
    let log = logs.join("slow.log");
    let events = |from: u32, n: u32| -> String {
        (from..from + n)
            .map(|i| slow_log_entry(&format!("SELECT * FROM dbp_rot WHERE id = {i}")))
            .collect()
    };
    std::fs::write(&log, events(0, 2)).expect("log");
    let platform = Platform::start();
    let key = platform.key("Rotation Shop").await;
    let source = format!(
        "[[source]]\nname = \"rot\"\nkind = \"mysql\"\nurl = \"{url}\"\nmethods = [\"slow_log_file\"]\nlog_path = \"{}\"\nstart_at = \"beginning\"\n",
        log.display()
    );
    let config = write_config(work.path(), &platform, &key, &source);
    ok(&agent(&config, &["--once"]));

    // More events, then `mv slow.log slow.log.1`; the server keeps writing to the renamed file until it
    // reopens its log (FLUSH SLOW LOGS), then writes the new file.
    let mut old = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open");
    old.write_all(events(2, 3).as_bytes()).expect("append");
    std::fs::rename(&log, logs.join("slow.log.1")).expect("rotate");
    old.write_all(events(5, 2).as_bytes())
        .expect("append after rename");
    drop(old);
    std::fs::write(&log, events(7, 4)).expect("new log");
    ok(&agent(&config, &["--once"]));
    ok(&agent(&config, &["--once"]));
    assert_eq!(
        count_of(&platform.classes(&key.0).await, "FROM dbp_rot"),
        11,
        "every event of both files"
    );

    // copytruncate: copied away, truncated in place, and written past the old offset before the next
    // round: read from its start, not from the middle.
    std::fs::copy(&log, logs.join("slow.log.2")).expect("copy");
    std::fs::write(&log, events(100, 6)).expect("truncate and refill");
    ok(&agent(&config, &["--once"]));
    assert_eq!(
        count_of(&platform.classes(&key.0).await, "FROM dbp_rot"),
        17
    );
}
