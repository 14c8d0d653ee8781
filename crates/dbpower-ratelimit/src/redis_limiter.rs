//! The Redis limiter: one Redis server, or a Redis Cluster when `redis_url` lists several nodes.
//!
//! Keys carry a hash tag per subject (`dbpower:rl:{org:1}:m`), so the windows of one organization, user,
//! API key or address share a cluster slot. On one server a check is one script over all its windows, as
//! before. On a cluster a Lua script may only touch keys of one slot, so a check runs the script once per
//! subject, in order, each one checking and recording atomically; when a later subject refuses, what the
//! earlier ones recorded is removed again. No window ever holds more than its limit, on any number of
//! gateways; the price is that a request refused by a later subject holds a slot of an earlier one for the
//! moment between the two scripts (a concurrent request may then be refused a slot that frees right after).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    Decision, Limit, Limiter, MemoryLimiter, OnRedisFailure, RedisLimiterError, Refusal, Usage,
};

/// Per window `i`, `ARGV` holds its length in ms, its maximum, this request's cost and its kind (`0`: a
/// request window, counted by `ZCARD`; `1`: a budget window whose members end in `:units`, summed; `2`:
/// a budget window this request uses nothing of). Then a unique token and whether to record. The answer
/// is the refused window (0: none) and, per window, the units used, ms until its oldest entry expires and
/// ms until this request would fit.
const SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local used, retry = {}, {}
local refused = 0
for i = 1, n do
  local window = tonumber(ARGV[4 * i - 3])
  local max = tonumber(ARGV[4 * i - 2])
  local cost = tonumber(ARGV[4 * i - 1])
  local kind = ARGV[4 * i]
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local c, r = 0, -1
  if kind == '0' then
    c = redis.call('ZCARD', KEYS[i])
  else
    local entries = redis.call('ZRANGE', KEYS[i], 0, -1, 'WITHSCORES')
    local units = {}
    for j = 1, #entries, 2 do
      units[j] = tonumber(string.match(entries[j], ':(%d+)$')) or 1
      c = c + units[j]
    end
    local freed = 0
    for j = 1, #entries, 2 do
      if freed >= c + cost - max then break end
      freed = freed + units[j]
      r = tonumber(entries[j + 1]) + window - now
    end
  end
  used[i] = c
  retry[i] = r
  if (c + cost > max or (kind ~= '2' and c >= max)) and refused == 0 then refused = i end
end
if refused == 0 and ARGV[4 * n + 2] == '1' then
  for i = 1, n do
    local cost = tonumber(ARGV[4 * i - 1])
    if cost > 0 then
      local member = ARGV[4 * n + 1] .. ':' .. i
      if ARGV[4 * i] ~= '0' then member = member .. ':' .. cost end
      redis.call('ZADD', KEYS[i], now, member)
      redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[4 * i - 3]))
    end
  end
end
local out = {refused}
for i = 1, n do
  local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  local reset = 0
  if oldest[2] then reset = tonumber(oldest[2]) + tonumber(ARGV[4 * i - 3]) - now end
  if reset < 0 then reset = 0 end
  local r = retry[i]
  if r < 0 then r = reset end
  if r < 0 then r = 0 end
  out[#out + 1] = used[i]
  out[#out + 1] = reset
  out[#out + 1] = r
end
return out
"#;

/// Removes what one check recorded: `ARGV[i]` is the member it added to `KEYS[i]`.
const UNDO: &str = r#"
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[i]) end
return 0
"#;

/// A connection to one Redis server (reconnecting) or to a cluster (following MOVED and ASK).
#[derive(Clone)]
enum Conn {
    Single(redis::aio::ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Conn {
    async fn invoke(&self, inv: &redis::ScriptInvocation<'_>) -> redis::RedisResult<Vec<i64>> {
        match self.clone() {
            Conn::Single(mut c) => inv.invoke_async(&mut c).await,
            Conn::Cluster(mut c) => inv.invoke_async(&mut c).await,
        }
    }

    async fn del(&self, keys: &[String]) -> redis::RedisResult<()> {
        match self.clone() {
            Conn::Single(mut c) => redis::cmd("DEL").arg(keys).query_async(&mut c).await,
            // one key per command: a multi-key DEL spanning slots is refused by a cluster
            Conn::Cluster(mut c) => {
                for k in keys {
                    redis::cmd("DEL").arg(k).query_async::<()>(&mut c).await?;
                }
                Ok(())
            }
        }
    }
}

/// `redis://a:7000,redis://b:7001` (two or more URLs): the nodes of a cluster; one URL: one server.
fn cluster_nodes(url: &str) -> Option<Vec<&str>> {
    let nodes: Vec<&str> = url
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    (nodes.len() > 1).then_some(nodes)
}

/// `key`'s subject (its hash tag) and window suffix: `org:1:m` is `("org:1", ":m")`; a key without a
/// window suffix (`login:a:…`) is its own subject.
fn subject(key: &str) -> (&str, &str) {
    match key.rfind(':') {
        Some(i) if matches!(&key[i + 1..], "m" | "h" | "q") && i > 0 => (&key[..i], &key[i..]),
        _ => (key, ""),
    }
}

/// Sliding windows in Redis sorted sets, decided by a Lua script (atomic, Redis's clock).
pub struct RedisLimiter {
    conn: Conn,
    script: redis::Script,
    undo: redis::Script,
    prefix: String,
    timeout: Duration,
    on_failure: OnRedisFailure,
    fallback: MemoryLimiter,
    failing: AtomicBool,
}

impl RedisLimiter {
    /// Connects (bounded by `timeout`); the caller decides what to do if Redis is down at start.
    /// `url` is one server's URL, or a comma-separated list of a cluster's nodes.
    pub async fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
        on_failure: OnRedisFailure,
    ) -> Result<RedisLimiter, RedisLimiterError> {
        if prefix.contains(['{', '}']) {
            return Err(RedisLimiterError::InvalidPrefix(prefix.to_string()));
        }
        let conn = tokio::time::timeout(timeout * 2, open(url, timeout))
            .await
            .map_err(|_| RedisLimiterError::Timeout(timeout * 2))??;
        Ok(RedisLimiter {
            conn,
            script: redis::Script::new(SCRIPT),
            undo: redis::Script::new(UNDO),
            prefix: prefix.to_string(),
            timeout,
            on_failure,
            fallback: MemoryLimiter::new(),
            failing: AtomicBool::new(false),
        })
    }

    /// Whether this limiter talks to a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    /// The Redis key of window `key`: the prefix, the subject as a hash tag, the window suffix.
    pub fn redis_key(&self, key: &str) -> String {
        let (subject, window) = subject(key);
        format!("{}{{{subject}}}{window}", self.prefix)
    }
}

async fn open(url: &str, timeout: Duration) -> Result<Conn, RedisLimiterError> {
    if let Some(nodes) = cluster_nodes(url) {
        let client = redis::cluster::ClusterClientBuilder::new(nodes)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(1)
            .build()
            .map_err(RedisLimiterError::InvalidUrl)?;
        return Ok(Conn::Cluster(client.get_async_connection().await?));
    }
    let client = redis::Client::open(url).map_err(RedisLimiterError::InvalidUrl)?;
    let cfg = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1);
    let mut conn = redis::aio::ConnectionManager::new_with_config(client, cfg).await?;
    // One node of a cluster would answer MOVED and CROSSSLOT to most checks: refuse it at start.
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut conn)
        .await?;
    if info.contains("cluster_enabled:1") {
        return Err(RedisLimiterError::OneClusterNode);
    }
    Ok(Conn::Single(conn))
}

/// The member the script adds to window `i` (1-based within one script call) for `token`.
fn member(token: &str, i: usize, l: &Limit) -> String {
    match l.units {
        None => format!("{token}:{i}"),
        Some(_) => format!("{token}:{i}:{}", l.cost()),
    }
}

impl RedisLimiter {
    /// One script call over `limits` (all of one slot on a cluster): the script's answer.
    async fn eval_once(
        &self,
        limits: &[&Limit],
        token: &str,
        record: bool,
    ) -> Result<Vec<i64>, RedisLimiterError> {
        let mut inv = self.script.prepare_invoke();
        for l in limits {
            inv.key(self.redis_key(&l.key));
        }
        for l in limits {
            let kind = match l.units {
                None => "0",
                Some(0) => "2",
                Some(_) => "1",
            };
            inv.arg(l.window.as_millis() as u64)
                .arg(l.max)
                .arg(l.cost())
                .arg(kind);
        }
        inv.arg(token);
        inv.arg(if record { "1" } else { "0" });
        match tokio::time::timeout(self.timeout, self.conn.invoke(&inv)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(RedisLimiterError::Timeout(self.timeout)),
        }
    }

    /// The whole check: one script on one server; on a cluster one per subject, undone when a later
    /// subject refuses. The answer has the script's shape over all `limits`.
    async fn eval(&self, limits: &[Limit], record: bool) -> Result<Vec<i64>, RedisLimiterError> {
        let token = uuid::Uuid::new_v4().to_string();
        if !self.is_cluster() {
            let all: Vec<&Limit> = limits.iter().collect();
            return self.eval_once(&all, &token, record).await;
        }
        let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
        for (i, l) in limits.iter().enumerate() {
            let s = subject(&l.key).0;
            match groups.iter_mut().find(|(g, _)| *g == s) {
                Some((_, members)) => members.push(i),
                None => groups.push((s, vec![i])),
            }
        }
        let mut out = vec![0i64; 1 + 3 * limits.len()];
        let mut recorded: Vec<&[usize]> = Vec::new();
        // one deadline for the whole check, however many subjects it has
        let deadline = tokio::time::Instant::now() + self.timeout;
        for (_, group) in &groups {
            let subset: Vec<&Limit> = group.iter().map(|&i| &limits[i]).collect();
            let go_on = record && out[0] == 0;
            let answer = tokio::time::timeout_at(deadline, self.eval_once(&subset, &token, go_on))
                .await
                .unwrap_or(Err(RedisLimiterError::Timeout(self.timeout)));
            let v = match answer {
                Ok(v) if v.len() == 1 + 3 * group.len() => v,
                other => {
                    // a call that failed or timed out may still have recorded: undo it too
                    if go_on {
                        recorded.push(group);
                    }
                    self.undo(limits, &recorded, &token).await;
                    return other;
                }
            };
            for (j, &i) in group.iter().enumerate() {
                out[1 + 3 * i..4 + 3 * i].copy_from_slice(&v[1 + 3 * j..4 + 3 * j]);
            }
            let refused = usize::try_from(v[0]).ok().filter(|r| *r > 0);
            match refused.and_then(|r| group.get(r - 1)) {
                Some(&i) if out[0] == 0 => out[0] = i as i64 + 1,
                _ if go_on => recorded.push(group),
                _ => {}
            }
        }
        if out[0] > 0 {
            self.undo(limits, &recorded, &token).await;
        }
        Ok(out)
    }

    /// Removes what `token` recorded in `groups` (best effort: a failure is logged, and the entries
    /// expire with their window).
    async fn undo(&self, limits: &[Limit], groups: &[&[usize]], token: &str) {
        for group in groups {
            let mut inv = self.undo.prepare_invoke();
            for (j, &i) in group.iter().enumerate() {
                inv.key(self.redis_key(&limits[i].key));
                inv.arg(member(token, j + 1, &limits[i]));
            }
            match tokio::time::timeout(self.timeout, self.conn.invoke(&inv)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "Redis: could not undo a refused request's windows")
                }
                Err(_) => tracing::warn!("Redis: undoing a refused request's windows timed out"),
            }
        }
    }
}
impl RedisLimiter {
    async fn decide(&self, limits: &[Limit], record: bool) -> Decision {
        if limits.is_empty() {
            return Decision::unlimited();
        }
        match self.eval(limits, record).await {
            Ok(v) if v.len() == 1 + 3 * limits.len() => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::warn!("Redis answers again: rate limits are shared again");
                }
                let refused = usize::try_from(v[0]).ok().filter(|r| *r > 0).map(|r| r - 1);
                let mut counts: Vec<Usage> = v[1..]
                    .chunks(3)
                    .map(|c| Usage {
                        used: c[0].max(0) as u64,
                        reset_ms: c[1].max(0) as u64,
                        retry_ms: c[2].max(0) as u64,
                    })
                    .collect();
                if refused.is_none() && record {
                    for (c, l) in counts.iter_mut().zip(limits) {
                        if c.used == 0 && l.cost() > 0 {
                            c.reset_ms = l.window.as_millis() as u64;
                        }
                    }
                }
                Decision::from_counts(limits, &counts, refused, record)
            }
            other => {
                let why = match other {
                    Err(e) => e.to_string(),
                    Ok(v) => format!("unexpected script answer {v:?}"),
                };
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(error = %why, policy = ?self.on_failure, "Redis rate limiter failing");
                }
                match self.on_failure {
                    OnRedisFailure::Fallback => self.fallback.decide_with(limits, record),
                    OnRedisFailure::Allow => Decision::unlimited(),
                    OnRedisFailure::Deny => Decision {
                        allowed: false,
                        limit: 0,
                        remaining: 0,
                        reset_secs: 1,
                        retry_after_secs: Some(1),
                        refused_by: Some(Refusal::Unavailable),
                    },
                }
            }
        }
    }
}

#[async_trait]
impl Limiter for RedisLimiter {
    async fn check(&self, limits: &[Limit]) -> Decision {
        self.decide(limits, true).await
    }

    async fn peek(&self, limits: &[Limit]) -> Decision {
        self.decide(limits, false).await
    }

    async fn forget(&self, keys: &[String]) {
        self.fallback.clear(keys);
        if keys.is_empty() {
            return;
        }
        let full: Vec<String> = keys.iter().map(|k| self.redis_key(k)).collect();
        match tokio::time::timeout(self.timeout, self.conn.del(&full)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "Redis: could not clear rate-limit windows"),
            Err(_) => tracing::warn!("Redis: clearing rate-limit windows timed out"),
        }
    }

    fn backend(&self) -> &'static str {
        if self.degraded() {
            "memory (redis unavailable)"
        } else {
            "redis"
        }
    }

    fn degraded(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }
}
