//! Local stand-ins for the alert channels no test machine can reach (Slack, PagerDuty, a
//! customer's webhook endpoint, an SMTP relay): a minimal HTTP/1.1 receiver and a minimal SMTP
//! receiver, each on its own thread and runtime, recording what they are sent; and the Standard
//! Webhooks signature check.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

const POLL: Duration = Duration::from_millis(50);
const HOLD: Duration = Duration::from_secs(120);
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 4 * 1024 * 1024;
const MAX_SMTP_LINE: usize = 1024 * 1024;
const MAX_MAIL: usize = 10 * 1024 * 1024;

type Conn = BufReader<TcpStream>;

/// A listener on 127.0.0.1 served by its own thread and runtime until dropped.
struct Served {
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Listens on 127.0.0.1:0 before returning, then hands each connection to `handle`.
    fn start<H, Fut>(name: &str, handle: H) -> Served
    where
        H: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener
            .local_addr()
            .expect("the receiver's address")
            .port();
        let (stop, mut stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the receiver's runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("the receiver's listener");
                    loop {
                        tokio::select! {
                            _ = &mut stop_rx => break,
                            accepted = listener.accept() => match accepted {
                                Ok((stream, _)) => {
                                    let _ = stream.set_nodelay(true);
                                    tokio::spawn(handle(stream));
                                }
                                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                            },
                        }
                    }
                });
                // Dropping the runtime drops every connection it still serves (a held one too).
                drop(rt);
            })
            .expect("spawn the receiver's thread");
        Served {
            port,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How an [`HttpReceiver`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Every request answered with the receiver's success status and body.
    Ok,
    /// The first n requests answered 500 with a small body, the later ones as [`Behaviour::Ok`].
    FailFirst(usize),
    /// The first request is read and recorded (status 0), then its connection is held open
    /// without an answer for 120 s; the later ones answered as [`Behaviour::Ok`].
    HangFirst,
}

/// One request an [`HttpReceiver`] read fully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub method: String,
    /// The request target as sent: path and query.
    pub path: String,
    /// In arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the receiver answered; 0 for a held request.
    pub status: u16,
}

impl Received {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as JSON; panics with the body's text when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            let body = String::from_utf8_lossy(&self.body);
            panic!(
                "{} {}: the body is not JSON ({e}): {body}",
                self.method, self.path
            )
        })
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

struct HttpState {
    behaviour: Behaviour,
    ok_status: u16,
    ok_body: &'static str,
    received: Mutex<Vec<Received>>,
}

/// A local HTTP/1.1 endpoint (a webhook, Slack, PagerDuty) that records every request; it stops
/// when dropped.
pub struct HttpReceiver {
    state: Arc<HttpState>,
    served: Served,
}

impl HttpReceiver {
    /// Listening on 127.0.0.1, answering successes with 200 `{"ok":true}`.
    pub fn start(behaviour: Behaviour) -> HttpReceiver {
        HttpReceiver::start_with(behaviour, 200, "{\"ok\":true}")
    }

    /// Listening on 127.0.0.1, answering successes with `ok_status` and `ok_body` (sent as
    /// `application/json` when it starts with `{` or `[`, as text otherwise).
    pub fn start_with(behaviour: Behaviour, ok_status: u16, ok_body: &'static str) -> HttpReceiver {
        let received = Mutex::new(Vec::new());
        let state = Arc::new(HttpState {
            behaviour,
            ok_status,
            ok_body,
            received,
        });
        let shared = Arc::clone(&state);
        let served = Served::start("http-receiver", move |s| serve_http(s, Arc::clone(&shared)));
        HttpReceiver { state, served }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.served.port)
    }

    /// Every request read fully, in arrival order, the failed and held ones included.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .expect("the receiver's records")
            .clone()
    }

    /// The requests answered 2xx, in arrival order.
    pub fn answered_ok(&self) -> Vec<Received> {
        let mut all = self.received();
        all.retain(|r| (200..300).contains(&r.status));
        all
    }

    /// Polls every 50 ms until `pred` holds for what was received, and returns it; after
    /// `timeout`, panics naming `what` and listing what was received.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        wait_blocking(what, timeout, || self.received(), pred)
    }

    /// [`HttpReceiver::wait_until`] sleeping on tokio's timer.
    pub async fn wait_until_async(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        wait_async(what, timeout, || self.received(), pred).await
    }
}

/// Why a request could not be read: the status to answer with (0: just close the connection).
type Failure = (u16, &'static str);

const LOST: Failure = (0, "the connection failed or ended inside a request");

fn lost(_: std::io::Error) -> Failure {
    LOST
}

async fn serve_http(stream: TcpStream, state: Arc<HttpState>) {
    let mut conn = BufReader::new(stream);
    loop {
        let mut request = match read_request(&mut conn).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err((status, why)) => {
                if status != 0 {
                    let body = format!("{{\"error\":\"{why}\"}}");
                    let _ = respond(conn.get_mut(), status, &body).await;
                }
                return;
            }
        };
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let hold = {
            let mut all = state.received.lock().expect("the receiver's records");
            let (status, hold) = match state.behaviour {
                Behaviour::FailFirst(n) if all.len() < n => (500, false),
                Behaviour::HangFirst if all.is_empty() => (0, true),
                _ => (state.ok_status, false),
            };
            request.status = status;
            all.push(request.clone());
            hold
        };
        if hold {
            tokio::time::sleep(HOLD).await;
            return;
        }
        let body = match request.status {
            500 => "{\"error\":\"the test receiver fails on purpose\"}",
            _ => state.ok_body,
        };
        if respond(conn.get_mut(), request.status, body).await.is_err() || close {
            return;
        }
    }
}

/// One request (its status still 0); `None` when the connection ends before one starts.
async fn read_request(conn: &mut Conn) -> Result<Option<Received>, Failure> {
    let (mut lines, mut size) = (Vec::new(), 0);
    loop {
        let Some(line) = next_line(conn, MAX_HEAD).await.map_err(lost)? else {
            return if lines.is_empty() {
                Ok(None)
            } else {
                Err(LOST)
            };
        };
        size += line.len() + 2;
        if size > MAX_HEAD {
            return Err((431, "a request head over 64 KiB"));
        }
        match (line.is_empty(), lines.is_empty()) {
            (true, true) => {} // blank lines before a request line are ignored
            (true, false) => break,
            _ => lines.push(String::from_utf8(line).map_err(|_| (400_u16, "a non-UTF-8 head"))?),
        }
    }
    let mut parts = lines[0].split_whitespace();
    let (Some(method), Some(path), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return Err((400, "a malformed request line"));
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut headers = Vec::new();
    for line in &lines[1..] {
        let (name, value) = line
            .split_once(':')
            .ok_or((400_u16, "a header without a colon"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    if find_header(&headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        conn.get_mut()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(lost)?;
    }
    let body = if find_header(&headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        read_chunked(conn).await?
    } else {
        let len: usize = find_header(&headers, "content-length")
            .map_or(Ok(0), |v| v.parse::<usize>())
            .map_err(|_| (400_u16, "a malformed content-length"))?;
        if len > MAX_BODY {
            return Err((413, "a body over 4 MiB"));
        }
        let mut body = vec![0; len];
        conn.read_exact(&mut body).await.map_err(lost)?;
        body
    };
    Ok(Some(Received {
        method,
        path,
        headers,
        body,
        status: 0,
    }))
}

async fn read_chunked(conn: &mut Conn) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    loop {
        let line = next_line(conn, 1024).await.map_err(lost)?.ok_or(LOST)?;
        let line = String::from_utf8_lossy(&line);
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| (400_u16, "a bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !next_line(conn, MAX_HEAD)
                .await
                .map_err(lost)?
                .ok_or(LOST)?
                .is_empty()
            {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err((413, "a body over 4 MiB"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        conn.read_exact(&mut body[start..]).await.map_err(lost)?;
        if !next_line(conn, 2)
            .await
            .map_err(lost)?
            .ok_or(LOST)?
            .is_empty()
        {
            return Err((400, "a chunk not followed by CRLF"));
        }
    }
}

/// One line without its line end (CRLF, or a bare LF), of at most `limit` bytes; `None` at the
/// end of the stream.
async fn next_line(conn: &mut Conn, limit: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    if (&mut *conn)
        .take(limit as u64)
        .read_until(b'\n', &mut line)
        .await?
        == 0
    {
        return Ok(None);
    }
    if line.pop() != Some(b'\n') {
        return Err(std::io::Error::other(
            "a line too long, or cut by the end of the stream",
        ));
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

async fn respond(stream: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        400 => "Bad Request",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let json = body.starts_with('{') || body.starts_with('[');
    let kind = if json {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let len = body.len();
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {kind}\r\ncontent-length: {len}\r\n\r\n{body}"
    );
    stream.write_all(answer.as_bytes()).await?;
    stream.flush().await
}

/// One message an [`SmtpReceiver`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The reverse path of `MAIL FROM` (empty for `<>`).
    pub from: String,
    /// Every `RCPT TO`, in order.
    pub to: Vec<String>,
    /// The message after `DATA`, headers included, dot-stuffing undone, lines ending in CRLF.
    pub data: String,
}

/// A local SMTP server (no TLS, no authentication) that records every message; it stops when
/// dropped.
pub struct SmtpReceiver {
    mails: Arc<Mutex<Vec<Mail>>>,
    served: Served,
}

impl SmtpReceiver {
    /// Listening on 127.0.0.1.
    pub fn start() -> SmtpReceiver {
        let mails = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&mails);
        let served = Served::start("smtp-receiver", move |s| serve_smtp(s, Arc::clone(&shared)));
        SmtpReceiver { mails, served }
    }

    pub fn port(&self) -> u16 {
        self.served.port
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.served.port)
    }

    /// Every message accepted, in order.
    pub fn messages(&self) -> Vec<Mail> {
        self.mails.lock().expect("the receiver's records").clone()
    }

    /// Polls every 50 ms until `pred` holds for the messages, and returns them; after `timeout`,
    /// panics naming `what` and listing the messages.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[Mail]) -> bool,
    ) -> Vec<Mail> {
        wait_blocking(what, timeout, || self.messages(), pred)
    }

    /// [`SmtpReceiver::wait_until`] sleeping on tokio's timer.
    pub async fn wait_until_async(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[Mail]) -> bool,
    ) -> Vec<Mail> {
        wait_async(what, timeout, || self.messages(), pred).await
    }
}

async fn serve_smtp(stream: TcpStream, mails: Arc<Mutex<Vec<Mail>>>) {
    let _ = smtp_session(BufReader::new(stream), &mails).await;
}

async fn smtp_session(mut conn: Conn, mails: &Mutex<Vec<Mail>>) -> std::io::Result<()> {
    reply(&mut conn, "220 localhost ESMTP test").await?;
    let (mut from, mut to) = (None::<String>, Vec::<String>::new());
    while let Some(line) = next_line(&mut conn, MAX_SMTP_LINE).await? {
        let line = String::from_utf8_lossy(&line);
        let (verb, rest) = line
            .split_once(' ')
            .map_or((&*line, ""), |(v, r)| (v, r.trim()));
        let answer = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                (from, to) = (None, Vec::new());
                "250-localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10485760"
            }
            "HELO" => {
                (from, to) = (None, Vec::new());
                "250 localhost"
            }
            "MAIL" => match path_argument(rest, "FROM:") {
                Some(address) => {
                    (from, to) = (Some(address), Vec::new());
                    "250 2.1.0 OK"
                }
                None => "501 5.5.4 Syntax: MAIL FROM:<address>",
            },
            "RCPT" => match path_argument(rest, "TO:") {
                _ if from.is_none() => "503 5.5.1 MAIL first",
                Some(address) => {
                    to.push(address);
                    "250 2.1.5 OK"
                }
                None => "501 5.5.4 Syntax: RCPT TO:<address>",
            },
            "DATA" if from.is_none() || to.is_empty() => "503 5.5.1 MAIL and RCPT first",
            "DATA" => {
                reply(&mut conn, "354 End data with <CR><LF>.<CR><LF>").await?;
                let Some(data) = read_data(&mut conn).await? else {
                    return Ok(());
                };
                let mail = Mail {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data,
                };
                if mail.data.len() > MAX_MAIL {
                    "552 5.3.4 Message too big"
                } else {
                    mails.lock().expect("the receiver's records").push(mail);
                    "250 2.0.0 OK queued"
                }
            }
            "RSET" => {
                (from, to) = (None, Vec::new());
                "250 2.0.0 OK"
            }
            "NOOP" => "250 2.0.0 OK",
            "QUIT" => {
                reply(&mut conn, "221 2.0.0 Bye").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not recognized",
        };
        reply(&mut conn, answer).await?;
    }
    Ok(())
}

/// The message after `DATA`, up to the line `.`, dot-stuffing undone; `None` when the connection
/// ends first.
async fn read_data(conn: &mut Conn) -> std::io::Result<Option<String>> {
    let mut data = String::new();
    while let Some(line) = next_line(conn, MAX_SMTP_LINE).await? {
        if line == b"." {
            return Ok(Some(data));
        }
        if data.len() <= MAX_MAIL {
            data.push_str(&String::from_utf8_lossy(
                line.strip_prefix(b".").unwrap_or(&line[..]),
            ));
            data.push_str("\r\n");
        }
    }
    Ok(None)
}

/// The address of `FROM:<address> params` or `TO:<address>` (`prefix` case-insensitive).
fn path_argument(rest: &str, prefix: &str) -> Option<String> {
    if !rest.get(..prefix.len())?.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let argument = rest.get(prefix.len()..)?.trim_start();
    match argument.strip_prefix('<') {
        Some(bracketed) => bracketed
            .split_once('>')
            .map(|(address, _)| address.to_string()),
        None => argument.split_whitespace().next().map(str::to_string),
    }
}

async fn reply(conn: &mut Conn, text: &str) -> std::io::Result<()> {
    let stream = conn.get_mut();
    stream.write_all(format!("{text}\r\n").as_bytes()).await?;
    stream.flush().await
}

/// Checks a request's Standard Webhooks signature (<https://www.standardwebhooks.com/>): `secret`
/// is `whsec_<base64 key>`; some `v1,<base64>` entry of `webhook-signature` must be the
/// HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`, the timestamp within 5 minutes of now.
pub fn verify_standard_webhook(secret: &str, r: &Received) -> Result<(), String> {
    let key = secret
        .strip_prefix("whsec_")
        .ok_or("the secret does not start with whsec_")?;
    let key = STANDARD
        .decode(key)
        .map_err(|e| format!("the secret is not base64: {e}"))?;
    let id = r.header("webhook-id").ok_or("no webhook-id header")?;
    let timestamp = r
        .header("webhook-timestamp")
        .ok_or("no webhook-timestamp header")?;
    let signatures = r
        .header("webhook-signature")
        .ok_or("no webhook-signature header")?;
    let seconds: u64 = timestamp
        .parse()
        .map_err(|_| format!("webhook-timestamp {timestamp:?} is no number"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    if now.abs_diff(seconds) > 300 {
        return Err(format!(
            "webhook-timestamp {seconds} is over 5 minutes from now ({now})"
        ));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&r.body);
    let expected = mac.finalize().into_bytes();
    let matches = |entry: &str| match entry.split_once(',') {
        Some(("v1", signature)) => STANDARD
            .decode(signature)
            .is_ok_and(|s| s[..] == expected[..]),
        _ => false,
    };
    if signatures.split_whitespace().any(matches) {
        return Ok(());
    }
    Err(format!(
        "no v1 entry of webhook-signature {signatures:?} signs this id, time and body"
    ))
}

/// What a receiver records, as listed when a wait times out.
trait Record {
    fn summary(&self) -> String;
}

impl Record for Received {
    fn summary(&self) -> String {
        let (method, path, status) = (&self.method, &self.path, self.status);
        format!(
            "{method} {path} (answered {status}): {}",
            preview(&self.body)
        )
    }
}

impl Record for Mail {
    fn summary(&self) -> String {
        format!(
            "from {:?} to {:?}: {}",
            self.from,
            self.to,
            preview(self.data.as_bytes())
        )
    }
}

fn preview(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned()
}

fn timed_out<T: Record>(what: &str, timeout: Duration, seen: &[T]) -> ! {
    let list: String = seen
        .iter()
        .map(|r| format!("\n  {}", r.summary()))
        .collect();
    let list = if list.is_empty() {
        " nothing"
    } else {
        list.as_str()
    };
    panic!("timed out after {timeout:?} waiting for {what}; received:{list}")
}

fn wait_blocking<T: Record>(
    what: &str,
    timeout: Duration,
    snapshot: impl Fn() -> Vec<T>,
    pred: impl Fn(&[T]) -> bool,
) -> Vec<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = snapshot();
        if pred(&seen) {
            return seen;
        }
        if Instant::now() >= deadline {
            timed_out(what, timeout, &seen);
        }
        std::thread::sleep(POLL);
    }
}

async fn wait_async<T: Record>(
    what: &str,
    timeout: Duration,
    snapshot: impl Fn() -> Vec<T>,
    pred: impl Fn(&[T]) -> bool,
) -> Vec<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = snapshot();
        if pred(&seen) {
            return seen;
        }
        if Instant::now() >= deadline {
            timed_out(what, timeout, &seen);
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::{Behaviour, HttpReceiver, Received, SmtpReceiver, verify_standard_webhook};

    const WAIT: Duration = Duration::from_secs(5);

    type Client = BufReader<TcpStream>;

    fn connect(url: &str) -> Client {
        let address = url.split_once("://").expect("a receiver url").1;
        let stream = TcpStream::connect(address).expect("connect to the receiver");
        stream.set_read_timeout(Some(WAIT)).expect("a read timeout");
        BufReader::new(stream)
    }

    fn send(conn: &mut Client, bytes: &[u8]) {
        conn.get_mut()
            .write_all(bytes)
            .expect("write to the receiver");
    }

    fn post(path: &str, body: &str) -> Vec<u8> {
        let len = body.len();
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n{body}").into()
    }

    fn read_response(conn: &mut Client) -> (u16, String) {
        let mut line = String::new();
        conn.read_line(&mut line).expect("a status line");
        let status = line.split_whitespace().nth(1).expect("a status");
        let status = status.parse().expect("a numeric status");
        let mut len = 0;
        loop {
            let mut line = String::new();
            conn.read_line(&mut line).expect("a header line");
            match line.trim_end().split_once(':') {
                None => break,
                Some((name, value)) if name.eq_ignore_ascii_case("content-length") => {
                    len = value.trim().parse().expect("a numeric content-length");
                }
                Some(_) => {}
            }
        }
        let mut body = vec![0; len];
        conn.read_exact(&mut body).expect("the body");
        (status, String::from_utf8(body).expect("a UTF-8 body"))
    }

    #[test]
    fn records_a_post_and_a_chunked_put_on_one_connection() {
        let rx = HttpReceiver::start(Behaviour::Ok);
        let mut conn = connect(&rx.url(""));
        let body = r#"{"text":"disk full"}"#;
        let head = "POST /hooks/slack?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                    Content-Type: application/json\r\nX-Trace: abc\r\n";
        send(
            &mut conn,
            format!("{head}Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes(),
        );
        assert_eq!(
            read_response(&mut conn),
            (200, r#"{"ok":true}"#.to_string())
        );
        send(
            &mut conn,
            b"PUT /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
        );
        assert_eq!(read_response(&mut conn).0, 200);
        let got = rx.wait_until("two requests", WAIT, |r| r.len() == 2);
        let first = &got[0];
        assert_eq!(
            (first.method.as_str(), first.path.as_str()),
            ("POST", "/hooks/slack?x=1")
        );
        assert_eq!(first.status, 200);
        assert_eq!(first.header("content-type"), Some("application/json"));
        assert_eq!(first.header("X-TRACE"), Some("abc"));
        assert!(
            first
                .headers
                .iter()
                .all(|(name, _)| *name == name.to_ascii_lowercase())
        );
        assert_eq!(first.body, body.as_bytes());
        assert_eq!(first.json()["text"], "disk full");
        assert_eq!(
            (got[1].method.as_str(), &got[1].body[..]),
            ("PUT", &b"hello world"[..])
        );
        assert_eq!(rx.answered_ok().len(), 2);
    }

    #[test]
    fn fails_the_first_requests() {
        let rx = HttpReceiver::start(Behaviour::FailFirst(2));
        let mut conn = connect(&rx.url(""));
        let mut answered = Vec::new();
        for n in 1..=3 {
            send(&mut conn, &post(&format!("/{n}"), "{}"));
            answered.push(read_response(&mut conn).0);
        }
        assert_eq!(answered, [500_u16, 500, 200]);
        let recorded: Vec<u16> = rx.received().iter().map(|r| r.status).collect();
        assert_eq!(recorded, [500_u16, 500, 200]);
        let ok = rx.answered_ok();
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].path, "/3");
    }

    #[test]
    fn holds_the_first_request_then_answers_the_configured_success() {
        let rx = HttpReceiver::start_with(Behaviour::HangFirst, 202, "ok");
        let mut held = connect(&rx.url(""));
        send(&mut held, &post("/first", "hi"));
        rx.wait_until("the held request", WAIT, |r| r.len() == 1);
        let short = Some(Duration::from_millis(300));
        held.get_ref()
            .set_read_timeout(short)
            .expect("a short read timeout");
        let mut byte = [0_u8; 1];
        assert!(
            held.read(&mut byte).is_err(),
            "the held request was answered or closed"
        );
        let mut other = connect(&rx.url(""));
        send(&mut other, b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(read_response(&mut other), (202, "ok".to_string()));
        let recorded: Vec<u16> = rx.received().iter().map(|r| r.status).collect();
        assert_eq!(recorded, [0_u16, 202]);
        assert_eq!(rx.answered_ok().len(), 1);
    }

    #[tokio::test]
    async fn waits_asynchronously() {
        let rx = HttpReceiver::start(Behaviour::Ok);
        let url = rx.url("");
        let client = std::thread::spawn(move || {
            let mut conn = connect(&url);
            send(&mut conn, b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
            read_response(&mut conn)
        });
        let got = rx.wait_until_async("the GET", WAIT, |r| r.len() == 1).await;
        assert_eq!(got[0].path, "/later");
        assert_eq!(client.join().expect("the client thread").0, 200);
    }

    fn smtp_reply(conn: &mut Client) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            conn.read_line(&mut line).expect("an SMTP reply line");
            assert!(line.len() >= 4, "a short SMTP reply: {all}{line:?}");
            all.push_str(&line);
            if line.as_bytes()[3] == b' ' {
                return all;
            }
        }
    }

    #[test]
    fn records_an_smtp_session() {
        let rx = SmtpReceiver::start();
        assert_eq!(rx.url(), format!("smtp://127.0.0.1:{}", rx.port()));
        let mut conn = connect(&rx.url());
        assert!(smtp_reply(&mut conn).starts_with("220 "));
        send(&mut conn, b"EHLO client.test\r\n");
        let ehlo = smtp_reply(&mut conn);
        assert!(
            ehlo.starts_with("250-localhost") && ehlo.contains("250 SIZE"),
            "{ehlo}"
        );
        assert!(
            !ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
            "{ehlo}"
        );
        for (line, code) in [
            ("MAIL FROM:<alerts@dbpower.test> BODY=8BITMIME", "250"),
            ("RCPT TO:<a@example.test>", "250"),
            ("rcpt to: <b@example.test>", "250"),
            ("VRFY a", "502"),
            ("DATA", "354"),
        ] {
            send(&mut conn, format!("{line}\r\n").as_bytes());
            let answer = smtp_reply(&mut conn);
            assert!(answer.starts_with(code), "{line}: {answer}");
        }
        send(
            &mut conn,
            b"Subject: disk full\r\n\r\nline one\r\n..leading dot\r\n.\r\n",
        );
        assert!(smtp_reply(&mut conn).starts_with("250 "));
        send(&mut conn, b"QUIT\r\n");
        assert!(smtp_reply(&mut conn).starts_with("221 "));
        let mails = rx.wait_until("one mail", WAIT, |m| m.len() == 1);
        assert_eq!(mails[0].from, "alerts@dbpower.test");
        assert_eq!(mails[0].to, ["a@example.test", "b@example.test"]);
        let data = "Subject: disk full\r\n\r\nline one\r\n.leading dot\r\n";
        assert_eq!(mails[0].data, data);
    }

    fn now() -> u64 {
        let since = SystemTime::now().duration_since(UNIX_EPOCH);
        since.expect("a clock after 1970").as_secs()
    }

    fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        STANDARD.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn verifies_standard_webhook_signatures() {
        let key = b"a key of some thirty-two bytes!!";
        let secret = format!("whsec_{}", STANDARD.encode(key));
        let body = br#"{"type":"alert.fired"}"#.to_vec();
        let (id, timestamp) = ("msg_2b1", now().to_string());
        let good = sign(key, id, &timestamp, &body);
        let signature = format!("v1,{} v1,{good}", STANDARD.encode(b"not it"));
        let mut r = Received {
            method: "POST".to_string(),
            path: "/hook".to_string(),
            headers: vec![
                ("webhook-id".to_string(), id.to_string()),
                ("webhook-timestamp".to_string(), timestamp),
                ("webhook-signature".to_string(), signature),
            ],
            body,
            status: 200,
        };
        assert_eq!(verify_standard_webhook(&secret, &r), Ok(()));
        let other = format!("whsec_{}", STANDARD.encode(b"another key"));
        assert!(verify_standard_webhook(&other, &r).is_err());
        r.body.push(b' ');
        assert!(
            verify_standard_webhook(&secret, &r).is_err(),
            "a tampered body passed"
        );
        r.body.pop();
        let stale = (now() - 600).to_string();
        r.headers[2].1 = format!("v1,{}", sign(key, id, &stale, &r.body));
        r.headers[1].1 = stale;
        let err = verify_standard_webhook(&secret, &r).expect_err("a stale timestamp");
        assert!(err.contains("timestamp"), "{err}");
    }
}
