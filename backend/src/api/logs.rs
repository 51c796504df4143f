//! `GET …/pods/{name}/log`: a container's log, as the kubelet serves it through the API server
//! (`kubectl logs`): `container`, `previous`, `follow`, `tailLines`, `sinceSeconds`,
//! `sinceTime`, `timestamps` and `limitBytes`, with kube-apiserver's refusals.

use super::ApiState;
use crate::error::ApiError;
use crate::kubelet::logs::{Line, Log};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use std::collections::HashMap;
use std::sync::Arc;
use svclab_shared::Kind;

/// `PodLogOptions` from the query.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Options {
    pub container: Option<String>,
    pub follow: bool,
    pub previous: bool,
    pub tail_lines: Option<usize>,
    pub since: Option<Timestamp>,
    pub timestamps: bool,
    pub limit_bytes: Option<usize>,
}

impl Options {
    pub fn from_query(query: &HashMap<String, String>, now: Timestamp) -> Result<Options, ApiError> {
        let flag = |name: &str| query.get(name).is_some_and(|v| v == "true" || v == "1");
        let number = |name: &str| -> Result<Option<i64>, ApiError> {
            match query.get(name) {
                None => Ok(None),
                Some(v) => v.parse::<i64>().map(Some).map_err(|_| ApiError::BadRequest(format!("invalid {name}: {v}"))),
            }
        };
        let since_seconds = number("sinceSeconds")?;
        if since_seconds.is_some_and(|s| s < 1) {
            return Err(ApiError::BadRequest("sinceSeconds: Invalid value: must be greater than 0".into()));
        }
        let since_time = match query.get("sinceTime") {
            Some(t) => {
                Some(t.parse::<Timestamp>().map_err(|e| ApiError::BadRequest(format!("invalid sinceTime: {e}")))?)
            }
            None => None,
        };
        if since_seconds.is_some() && since_time.is_some() {
            return Err(ApiError::BadRequest("at most one of `sinceTime` or `sinceSeconds` may be specified".into()));
        }
        let since = since_time.or_else(|| since_seconds.map(|s| now - jiff::SignedDuration::from_secs(s)));
        let tail_lines = number("tailLines")?.map(|n| n.max(0) as usize);
        let limit_bytes = number("limitBytes")?;
        if limit_bytes.is_some_and(|b| b < 1) {
            return Err(ApiError::BadRequest("limitBytes: Invalid value: must be greater than 0".into()));
        }
        Ok(Options {
            container: query.get("container").cloned().filter(|c| !c.is_empty()),
            follow: flag("follow"),
            previous: flag("previous"),
            tail_lines,
            since,
            timestamps: flag("timestamps"),
            limit_bytes: limit_bytes.map(|b| b as usize),
        })
    }

    fn keeps(&self, line: &Line) -> bool {
        self.since.is_none_or(|since| line.time >= since)
    }

    fn render(&self, line: &Line) -> String {
        if self.timestamps {
            // RFC 3339 with as many fractional digits as needed, as Go's RFC3339Nano writes it.
            format!("{} {}", line.time, line.text)
        } else {
            line.text.clone()
        }
    }
}

/// The log a request names, with the API server's and kubelet's refusals.
fn find_log(state: &ApiState, ns: &str, name: &str, options: &Options) -> Result<Arc<Log>, ApiError> {
    let pod: Pod = state.store().get_typed(ns, name).ok_or_else(|| ApiError::not_found(Kind::Pod, name))?;
    let (containers, init) = svclab_shared::pod::container_names(&pod);
    let container = match &options.container {
        Some(c) if containers.contains(c) || init.contains(c) => c.clone(),
        Some(c) => return Err(ApiError::BadRequest(format!("container {c} is not valid for pod {name}"))),
        None => match containers.as_slice() {
            [only] => only.clone(),
            many => {
                return Err(ApiError::BadRequest(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    many.join(" ")
                )));
            }
        },
    };
    let waiting = |reason: &str| {
        ApiError::BadRequest(format!("container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"))
    };
    let sandbox = state.sandboxes.get(ns, name).ok_or_else(|| waiting("ContainerCreating"))?;
    let runtime = sandbox.container(&container).ok_or_else(|| waiting("ContainerCreating"))?;
    if options.previous {
        return runtime.previous_log().ok_or_else(|| {
            ApiError::BadRequest(format!("previous terminated container \"{container}\" in pod \"{name}\" not found"))
        });
    }
    if let crate::kubelet::container::Phase::Waiting { reason, .. } = runtime.snapshot().phase
        && runtime.snapshot().last.is_none()
    {
        return Err(waiting(&reason));
    }
    Ok(runtime.log())
}

/// `GET …/pods/{name}/log`.
pub async fn get(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let options = Options::from_query(&query, Timestamp::now())?;
    let log = find_log(&state, &ns, &name, &options)?;
    let (lines, next, _) = log.read_from(0);
    let mut kept: Vec<&Line> = lines.iter().filter(|l| options.keeps(l)).collect();
    if let Some(tail) = options.tail_lines {
        kept.drain(..kept.len().saturating_sub(tail));
    }
    let mut budget = options.limit_bytes.unwrap_or(usize::MAX);
    let mut first = String::new();
    for line in kept {
        first.push_str(&options.render(line));
    }
    truncate_to(&mut first, &mut budget);
    let response = Response::builder().header("content-type", "text/plain");
    if !options.follow || budget == 0 {
        return Ok(response.body(Body::from(first)).expect("a valid response"));
    }
    let cancel = state.cancel.clone();
    let stream = async_stream(first, log, next, options, budget, cancel);
    Ok(response.body(Body::from_stream(stream)).expect("a valid response"))
}

/// Cuts `text` to the bytes left in `budget` (on a character boundary), and spends them.
fn truncate_to(text: &mut String, budget: &mut usize) {
    if text.len() > *budget {
        let mut cut = *budget;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    *budget -= text.len();
}

/// `follow=true`: what is there, then each line as it is written, until the run ends, the
/// byte limit is reached, the client goes, or svclab stops.
fn async_stream(
    first: String,
    log: Arc<Log>,
    mut next: u64,
    options: Options,
    mut budget: usize,
    cancel: tokio_util::sync::CancellationToken,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    super::produced_stream(move |tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>| async move {
        if !first.is_empty() && tx.send(Ok(first.into())).await.is_err() {
            return;
        }
        loop {
            let changed = log.changed();
            let (lines, after, closed) = log.read_from(next);
            next = after;
            let mut chunk: String = lines.iter().filter(|l| options.keeps(l)).map(|l| options.render(l)).collect();
            truncate_to(&mut chunk, &mut budget);
            if !chunk.is_empty() && tx.send(Ok(chunk.into())).await.is_err() {
                return;
            }
            if closed || budget == 0 {
                return;
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tx.closed() => return,
                _ = changed => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn options_read_like_pod_log_options() {
        let now: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        let o = Options::from_query(&query(&[("follow", "true"), ("tailLines", "10"), ("container", "kubia")]), now)
            .unwrap();
        assert_eq!((o.follow, o.tail_lines, o.container.as_deref()), (true, Some(10), Some("kubia")));
        let o = Options::from_query(&query(&[("sinceSeconds", "60")]), now).unwrap();
        assert_eq!(o.since, Some("2026-01-01T11:59:00Z".parse().unwrap()));
        assert!(Options::from_query(&query(&[("sinceSeconds", "0")]), now).is_err());
        assert!(
            Options::from_query(&query(&[("sinceSeconds", "5"), ("sinceTime", "2026-01-01T00:00:00Z")]), now).is_err()
        );
        assert!(Options::from_query(&query(&[("limitBytes", "x")]), now).is_err());
    }

    #[test]
    fn lines_render_with_timestamps_when_asked() {
        let line = Line {
            time: "2026-01-01T12:00:00.5Z".parse().unwrap(),
            stream: crate::kubelet::logs::Stream::Stdout,
            text: "Kubia server starting...\n".into(),
        };
        let plain = Options::default();
        assert_eq!(plain.render(&line), "Kubia server starting...\n");
        let stamped = Options { timestamps: true, ..Options::default() };
        assert_eq!(stamped.render(&line), "2026-01-01T12:00:00.5Z Kubia server starting...\n");
        let mut text = "héllo".to_string();
        let mut budget = 2;
        truncate_to(&mut text, &mut budget);
        assert_eq!((text.as_str(), budget), ("h", 1));
    }
}
