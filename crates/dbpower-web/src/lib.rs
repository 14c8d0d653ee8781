//! The admin panel, embedded: `web/admin` is built by `build.rs` (npm, Vite) and its files are compiled
//! into the binary, so `dbpower serve` and `dbpower gateway` serve it with no files on disk.
//!
//! [`respond`] answers the panel's GET and HEAD requests: its files by path (hashed `/assets/*` files
//! cached for a year, everything else revalidated), and `index.html` for any other path that is not an
//! API path, so the panel's client-side routes can be bookmarked and reloaded.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

/// One embedded file.
pub struct Asset {
    pub path: &'static str,
    pub body: &'static [u8],
    /// The same bytes gzip-compressed at build time (text files over 1 KiB).
    pub gzip: Option<&'static [u8]>,
    pub content_type: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// Whether the real panel is embedded (false: npm was missing at build time, a page says so).
pub fn is_built() -> bool {
    BUILT
}

/// The panel's Content-Security-Policy: everything from the panel's own origin, no inline scripts, no
/// framing. Inline style attributes are allowed for the charts' SVG.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// Paths that belong to the services (each one and everything below it), never to the panel.
const SERVICE_PREFIXES: &[&str] = &[
    "/api",
    "/analyzer",
    "/docs",
    "/metrics",
    "/health",
    "/ready",
];

/// Whether `path` is one the panel answers (anything outside the services' own prefixes).
pub fn is_panel_path(path: &str) -> bool {
    !SERVICE_PREFIXES.iter().any(|p| {
        let base = p.trim_end_matches('/');
        path.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The embedded file at `path`, if any.
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// Whether an `Accept-Encoding` value accepts gzip (and does not refuse it with `q=0`).
fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|v| {
        v.split(',').any(|part| {
            let mut it = part.split(';').map(str::trim);
            let coding = it.next().unwrap_or("");
            let refused = it.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
    })
}

/// The panel's answer for a request, or `None` when the request is not the panel's (a service path, or
/// a method other than GET and HEAD) so the caller answers it. Compressed when the client accepts gzip.
pub fn respond(method: &Method, path: &str, headers: &HeaderMap) -> Option<Response<Body>> {
    let accept = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok());
    respond_encoded(method, path, accept)
}

fn respond_encoded(
    method: &Method,
    path: &str,
    accept_encoding: Option<&str>,
) -> Option<Response<Body>> {
    if !(method == Method::GET || method == Method::HEAD) || !is_panel_path(path) {
        return None;
    }
    let (file, status) = match asset(path).filter(|_| path != "/") {
        Some(a) => (a, StatusCode::OK),
        // A missing file (a stale hashed asset after an upgrade) is a 404, not the HTML page.
        None if path.starts_with("/assets/") || has_extension(path) => {
            return Some(plain(StatusCode::NOT_FOUND, "not found"));
        }
        None => (asset("/index.html")?, StatusCode::OK),
    };
    let cache = if file.path.starts_with("/assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let (bytes, gzipped) = match file.gzip {
        Some(gz) if accepts_gzip(accept_encoding) => (gz, true),
        _ => (file.body, false),
    };
    let mut resp = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, file.content_type)
        .header(header::CACHE_CONTROL, cache)
        .header(header::CONTENT_LENGTH, bytes.len());
    if file.gzip.is_some() {
        resp = resp.header(header::VARY, "accept-encoding");
    }
    if gzipped {
        resp = resp.header(header::CONTENT_ENCODING, "gzip");
    }
    if file.content_type.starts_with("text/html") {
        resp = resp.header(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(bytes)
    };
    resp.body(body).ok()
}

fn has_extension(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_paths_are_not_the_panels() {
        for p in [
            "/api/v1/users",
            "/api/openapi.json",
            "/analyzer/analyze",
            "/docs",
            "/docs/",
            "/metrics",
            "/health",
            "/ready",
        ] {
            assert!(!is_panel_path(p), "{p}");
        }
        for p in [
            "/",
            "/queries",
            "/queries/12",
            "/assets/index-abc.js",
            "/healthy-queries",
            "/apix",
        ] {
            assert!(is_panel_path(p), "{p}");
        }
    }

    #[test]
    fn index_for_client_routes_with_csp_and_no_cache() {
        for p in ["/", "/dashboard", "/queries/42"] {
            let r = respond_encoded(&Method::GET, p, None).expect("panel answers");
            assert_eq!(r.status(), StatusCode::OK, "{p}");
            assert_eq!(
                r.headers()[header::CONTENT_TYPE],
                "text/html; charset=utf-8"
            );
            assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
            assert!(
                r.headers()[header::CONTENT_SECURITY_POLICY]
                    .to_str()
                    .unwrap_or("")
                    .contains("frame-ancestors 'none'")
            );
        }
    }

    #[test]
    fn assets_are_immutable_and_missing_ones_are_404() {
        if let Some(js) = ASSETS
            .iter()
            .find(|a| a.path.starts_with("/assets/") && a.path.ends_with(".js"))
        {
            let r = respond_encoded(&Method::GET, js.path, None).expect("asset");
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(
                r.headers()[header::CONTENT_TYPE],
                "text/javascript; charset=utf-8"
            );
            assert!(
                r.headers()[header::CACHE_CONTROL]
                    .to_str()
                    .unwrap_or("")
                    .contains("immutable")
            );
        } else {
            assert!(
                !is_built(),
                "a built panel has hashed scripts under /assets/"
            );
        }
        let r =
            respond_encoded(&Method::GET, "/assets/index-gone.js", None).expect("panel answers");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = respond_encoded(&Method::GET, "/favicon-gone.png", None).expect("panel answers");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn not_the_panels_requests() {
        assert!(respond_encoded(&Method::POST, "/", None).is_none());
        assert!(respond_encoded(&Method::GET, "/api/v1/nope", None).is_none());
        let head = respond_encoded(&Method::HEAD, "/", None).expect("HEAD");
        assert_eq!(head.status(), StatusCode::OK);
    }

    #[test]
    fn gzip_only_when_the_client_accepts_it() {
        assert!(accepts_gzip(Some("gzip, deflate, br")));
        assert!(accepts_gzip(Some("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("br, deflate")));
        assert!(!accepts_gzip(None));
        let Some(big) = ASSETS.iter().find(|a| a.gzip.is_some()) else {
            assert!(!is_built(), "a built panel has scripts over 1 KiB");
            return;
        };
        let r = respond_encoded(&Method::GET, big.path, Some("gzip")).expect("asset");
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(r.headers()[header::VARY], "accept-encoding");
        let gz_len: usize = r.headers()[header::CONTENT_LENGTH]
            .to_str()
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        assert!(
            gz_len > 0 && gz_len < big.body.len() / 2,
            "{gz_len} vs {}",
            big.body.len()
        );
        let plain = respond_encoded(&Method::GET, big.path, Some("identity")).expect("asset");
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(
            plain.headers()[header::CONTENT_LENGTH],
            big.body.len().to_string().as_str()
        );
    }
}
