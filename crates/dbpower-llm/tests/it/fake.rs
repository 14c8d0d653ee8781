//! A local stand-in for an LLM server: `/v1/chat/completions` (OpenAI) and `/api/chat` (Ollama). Each
//! request takes the next scripted behaviour and is recorded (path, authorization, body).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// Answer with this message content in the protocol's envelope.
    Answer(String),
    /// Answer with this HTTP status (and a Retry-After of 0 for 429).
    Status(u16),
    /// Sleep this long before answering (to trip the client's timeout).
    Stall(Duration),
}

#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Clone, Default)]
struct Shared {
    script: Arc<Mutex<VecDeque<Step>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

pub(crate) struct Fake {
    pub base: String,
    shared: Shared,
}

impl Fake {
    pub(crate) async fn start(script: Vec<Step>) -> Fake {
        let shared = Shared::default();
        shared.script.lock().expect("lock").extend(script);
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake {
            base: format!("http://{addr}"),
            shared,
        }
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("lock").clone()
    }
}

async fn handle(State(s): State<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_string();
    s.seen.lock().expect("lock").push(Seen {
        path: path.clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body,
    });
    let step = s.script.lock().expect("lock").pop_front();
    match step {
        Some(Step::Answer(content)) if path == "/api/chat" => axum::Json(json!({
            "model": "llama3", "created_at": "2026-12-03T00:00:00Z", "done": true,
            "message": {"role": "assistant", "content": content}, "prompt_eval_count": 321, "eval_count": 54
        }))
        .into_response(),
        Some(Step::Answer(content)) => axum::Json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 123, "completion_tokens": 45, "total_tokens": 168}
        }))
        .into_response(),
        Some(Step::Status(429)) => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "slow down").into_response(),
        Some(Step::Status(code)) => (StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "error").into_response(),
        Some(Step::Stall(d)) => {
            tokio::time::sleep(d).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        None => (StatusCode::INTERNAL_SERVER_ERROR, "script exhausted").into_response(),
    }
}
