//! The dashboard's files: built into the binary (by `build.rs`, from trunk's output) and served
//! precompressed, brotli or gzip as the browser accepts, with cache headers (trunk names every
//! asset by its hash, so only `index.html` is looked at again); or from a directory given with
//! `--dashboard DIR`, for development. Its own routes (`/services/…`) load `index.html`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// Each built file: its path, and its bytes as built, brotli-compressed and gzipped.
type Embedded = (&'static str, &'static [u8], &'static [u8], &'static [u8]);

static FILES: &[Embedded] = include!(concat!(env!("OUT_DIR"), "/dashboard.rs"));

/// Where the dashboard comes from.
#[derive(Clone, Debug)]
pub enum Dashboard {
    /// The files built into the binary (none when it was built without the dashboard).
    Embedded,
    /// A directory of trunk's output.
    Dir(PathBuf),
}

impl Dashboard {
    /// A directory when one is given (and holds an `index.html`), else the built-in files.
    pub fn from(dir: Option<PathBuf>) -> Self {
        match dir.filter(|d| d.join("index.html").is_file()) {
            Some(dir) => Dashboard::Dir(dir),
            None => Dashboard::Embedded,
        }
    }

    pub async fn serve(&self, request: Request) -> Response {
        match self {
            Dashboard::Dir(dir) => {
                let index = ServeFile::new(dir.join("index.html"));
                match ServeDir::new(dir).fallback(index).oneshot(request).await {
                    Ok(response) => response.into_response(),
                    Err(never) => match never {},
                }
            }
            Dashboard::Embedded => embedded(&request),
        }
    }
}

/// The encodings a request accepts, by its `Accept-Encoding` (one offered with `q=0` is not).
fn accepts(headers: &HeaderMap, encoding: &str) -> bool {
    let Some(value) = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()) else { return false };
    value.split(',').any(|offer| {
        let mut parts = offer.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let refused = parts.any(|p| p.strip_prefix("q=").is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q == 0.0)));
        name.eq_ignore_ascii_case(encoding) && !refused
    })
}

fn embedded(request: &Request) -> Response {
    if FILES.is_empty() {
        let msg = "The svclab dashboard is not built into this binary. Run `cargo xtask run`, which builds it with trunk (or serve a build with --dashboard DIR).\n";
        return (StatusCode::NOT_FOUND, msg).into_response();
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")]).into_response();
    }
    let path = request.uri().path();
    // A path that is no file is one of the dashboard's own routes: its page.
    let file = FILES.iter().find(|(p, ..)| *p == path).or_else(|| FILES.iter().find(|(p, ..)| *p == "/index.html"));
    let Some(&(name, raw, br, gz)) = file else { return StatusCode::NOT_FOUND.into_response() };
    let headers = request.headers();
    let (body, encoding) = if accepts(headers, "br") {
        (br, Some("br"))
    } else if accepts(headers, "gzip") {
        (gz, Some("gzip"))
    } else {
        (raw, None)
    };
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let cache = if name == "/index.html" { "no-cache" } else { "public, max-age=31536000, immutable" };
    let mut response = Response::new(if request.method() == Method::HEAD { Body::empty() } else { Body::from(body) });
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(mime.as_ref()).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(encoding) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn the_encoding_is_the_one_the_browser_accepts() {
        assert!(accepts(&with("gzip, deflate, br, zstd"), "br"));
        assert!(accepts(&with("gzip;q=1.0, br;q=0.5"), "br"));
        assert!(!accepts(&with("gzip, br;q=0"), "br"), "refused with q=0");
        assert!(accepts(&with("gzip, br;q=0"), "gzip"));
        assert!(!accepts(&HeaderMap::new(), "gzip"));
    }
}
