//! A local Redis Cluster for the suites: three masters (`redis-server --cluster-enabled yes` on three
//! free ports, each with its cluster bus port free too) joined by `redis-cli --cluster create`, killed
//! when the value drops. Needs `redis-server` and `redis-cli`, which every machine running the Redis
//! suites has.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Three cluster masters on 127.0.0.1, killed with this value.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A port that is free together with its cluster bus port (+10000).
fn free_port(taken: &[u16]) -> u16 {
    for _ in 0..200 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        if port < 55_000
            && !taken.contains(&port)
            && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port pair for a cluster node");
}

/// `redis-cli -p port args...`, which must succeed: its output.
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl RedisCluster {
    /// Starts three masters on free ports and joins them (`--cluster-replicas 0`); panics when the
    /// cluster does not form within 20 s.
    pub fn start() -> RedisCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ports = Vec::new();
        let mut children = Vec::new();
        for i in 0..3 {
            let port = free_port(&ports);
            ports.push(port);
            let node_dir = dir.path().join(format!("node{i}"));
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .args(["--cluster-node-timeout", "2000"])
                .arg("--dir")
                .arg(&node_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts");
            children.push(child);
        }
        let cluster = RedisCluster {
            ports,
            children,
            _dir: dir,
        };
        for &p in &cluster.ports {
            wait_for(|| {
                Command::new("redis-cli")
                    .args(["-p", &p.to_string(), "ping"])
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG"))
            });
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create runs");
        assert!(out.status.success(), "cluster create: {out:?}");
        for &p in &cluster.ports {
            wait_for(|| cli(p, &["cluster", "info"]).contains("cluster_state:ok"));
        }
        cluster
    }

    /// `redis://127.0.0.1:P1,redis://127.0.0.1:P2,redis://127.0.0.1:P3`: the nodes as `redis_url` takes them.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect();
        nodes.join(",")
    }

    /// The port of the master serving `key`'s slot, and the slot.
    pub fn owner(&self, key: &str) -> (u16, u16) {
        let slot: u16 = cli(self.ports[0], &["cluster", "keyslot", key])
            .parse()
            .expect("slot");
        for &p in &self.ports {
            let nodes = cli(p, &["cluster", "nodes"]);
            let me = nodes
                .lines()
                .find(|l| l.contains("myself"))
                .expect("myself");
            let serves = me.split_whitespace().skip(8).any(|range| {
                let (a, b) = range.split_once('-').unwrap_or((range, range));
                match (a.parse::<u16>(), b.parse::<u16>()) {
                    (Ok(a), Ok(b)) => (a..=b).contains(&slot),
                    _ => false,
                }
            });
            if serves {
                return (p, slot);
            }
        }
        panic!("no master serves slot {slot}");
    }

    /// Stops the last master (killed, as a crash would); the port it had.
    pub fn kill_last(&mut self) -> u16 {
        let mut child = self.children.pop().expect("a master left");
        child.kill().expect("stop the master");
        child.wait().expect("stopped");
        self.ports[self.children.len()]
    }

    /// The cluster id of the node on `port`.
    pub fn node_id(&self, port: u16) -> String {
        cli(port, &["cluster", "myid"])
    }
}

fn wait_for(mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out");
        std::thread::sleep(Duration::from_millis(100));
    }
}
