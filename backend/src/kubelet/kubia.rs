//! The `luksa/kubia` images: what each serves on port 8080 and the `/app.js` it ships, by name
//! and tag, as the images of "Kubernetes in Action" do. `luksa/kubia` answers `You've hit
//! <hostname>`; a tag `:vN` (a rolling update's versions) answers `This is vN running in pod
//! <hostname>`, except `:v3`, which fails with 500 from its fifth request on (a bad rollout);
//! `luksa/kubia-unhealthy` answers five requests and then only 500 (a liveness probe's case).

use axum::Router;
use axum::http::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use svclab_shared::program::repository;

/// Which of the kubia apps an image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kubia {
    /// `You've hit <hostname>` on every request.
    Hit,
    /// `This is v<n> running in pod <hostname>`.
    Version(u32),
    /// `:v3`: as a version, until the fifth request; from then on 500.
    Failing,
    /// `luksa/kubia-unhealthy`: `You've hit` five times; from then on 500.
    Unhealthy,
}

impl Kubia {
    /// The app of a `luksa/kubia` or `luksa/kubia-unhealthy` image.
    pub fn of(image: &str) -> Kubia {
        if repository(image) == "luksa/kubia-unhealthy" {
            return Kubia::Unhealthy;
        }
        let tag = image.split('@').next().unwrap_or(image).rsplit('/').next().and_then(|last| last.split_once(':'));
        match tag.and_then(|(_, t)| t.strip_prefix('v')?.parse().ok()) {
            Some(3) => Kubia::Failing,
            Some(n) => Kubia::Version(n),
            None => Kubia::Hit,
        }
    }

    /// What the app answers its `count`th request (from 1), as status and body.
    pub fn answer(self, count: u32, hostname: &str) -> (StatusCode, String) {
        match self {
            Kubia::Hit => (StatusCode::OK, format!("You've hit {hostname}\n")),
            Kubia::Version(n) => (StatusCode::OK, format!("This is v{n} running in pod {hostname}\n")),
            Kubia::Failing if count >= 5 => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Some internal error has occurred! This is pod {hostname}\n"),
            ),
            Kubia::Failing => (StatusCode::OK, format!("This is v3 running in pod {hostname}\n")),
            Kubia::Unhealthy if count > 5 => {
                (StatusCode::INTERNAL_SERVER_ERROR, "I'm not well. Please restart me!".into())
            }
            Kubia::Unhealthy => (StatusCode::OK, format!("You've hit {hostname}\n")),
        }
    }

    /// The app's HTTP server, counting its requests from this run's start.
    pub fn router(self, hostname: String) -> Router {
        let count = Arc::new(AtomicU32::new(0));
        Router::new().fallback(move || {
            let n = count.fetch_add(1, Ordering::Relaxed).saturating_add(1);
            let answer = self.answer(n, &hostname);
            async move { answer }
        })
    }

    /// The image's `/app.js`.
    pub fn source(self) -> String {
        let (counter, check, body) = match self {
            Kubia::Hit => ("", String::new(), "\"You've hit \" + os.hostname() + \"\\n\"".to_string()),
            Kubia::Version(n) => ("", String::new(), format!("\"This is v{n} running in pod \" + os.hostname() + \"\\n\"")),
            Kubia::Failing => (
                "var requestCount = 0;\n",
                "  if (++requestCount >= 5) {\n    response.writeHead(500);\n    response.end(\"Some internal error has occurred! This is pod \" + os.hostname() + \"\\n\");\n    return;\n  }\n".to_string(),
                "\"This is v3 running in pod \" + os.hostname() + \"\\n\"".to_string(),
            ),
            Kubia::Unhealthy => (
                "var requestCount = 0;\n",
                "  requestCount++;\n  if (requestCount > 5) {\n    response.writeHead(500);\n    response.end(\"I'm not well. Please restart me!\");\n    return;\n  }\n".to_string(),
                "\"You've hit \" + os.hostname() + \"\\n\"".to_string(),
            ),
        };
        format!(
            "const http = require('http');\nconst os = require('os');\n{counter}\nconsole.log(\"Kubia server starting...\");\n\nvar handler = function(request, response) {{\n  console.log(\"Received request from \" + request.connection.remoteAddress);\n{check}  response.writeHead(200);\n  response.end({body});\n}};\n\nvar www = http.createServer(handler);\nwww.listen(8080);\n"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_names_the_app() {
        assert_eq!(Kubia::of("luksa/kubia"), Kubia::Hit);
        assert_eq!(Kubia::of("docker.io/luksa/kubia:latest"), Kubia::Hit);
        assert_eq!(Kubia::of("luksa/kubia:v1"), Kubia::Version(1));
        assert_eq!(Kubia::of("luksa/kubia:v2"), Kubia::Version(2));
        assert_eq!(Kubia::of("luksa/kubia:v3"), Kubia::Failing);
        assert_eq!(Kubia::of("luksa/kubia-unhealthy"), Kubia::Unhealthy);
        assert_eq!(Kubia::of("luksa/kubia:v2@sha256:abc"), Kubia::Version(2));
    }

    #[test]
    fn v3_fails_from_its_fifth_request_and_unhealthy_after_its_fifth() {
        let status = |app: Kubia, n| app.answer(n, "kubia-x").0;
        assert_eq!(status(Kubia::Failing, 4), StatusCode::OK);
        assert_eq!(status(Kubia::Failing, 5), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status(Kubia::Unhealthy, 5), StatusCode::OK);
        assert_eq!(status(Kubia::Unhealthy, 6), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(Kubia::Version(2).answer(9, "kubia-x").1, "This is v2 running in pod kubia-x\n");
    }

    #[test]
    fn the_plain_image_ships_the_plain_app() {
        let source = Kubia::Hit.source();
        assert!(source.contains("response.end(\"You've hit \" + os.hostname() + \"\\n\");"), "{source}");
        assert!(!source.contains("requestCount"));
        assert!(Kubia::Failing.source().contains("if (++requestCount >= 5)"));
    }
}
