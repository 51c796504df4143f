//! Which built-in program an image runs, from the image's name alone (pure: no container, no
//! sockets); the backend's kubelet runs it, the doctor and the dashboard say when an image is
//! not built in and svclab's default program stands in for it.

/// The program an image runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Kubia,
    EchoServer,
    NetExec,
    Nginx,
    Tools,
    Default,
}

impl Program {
    /// The image's entrypoint, as `ps` shows PID 1.
    pub fn entrypoint(self) -> &'static str {
        match self {
            Program::Kubia => "node app.js",
            Program::EchoServer => "nginx: master process nginx -g daemon off;",
            Program::NetExec => "/agnhost netexec",
            Program::Nginx => "nginx: master process nginx -g daemon off;",
            Program::Tools => "sleep infinity",
            Program::Default => "svclab-default-server",
        }
    }

    pub fn is_builtin(self) -> bool {
        self != Program::Default
    }
}

/// The image name without registry, tag or digest: `docker.io/luksa/kubia:v1` → `luksa/kubia`.
pub fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    let image = match image[last_slash..].find(':') {
        Some(i) => &image[..last_slash + i],
        None => image,
    };
    let image = image.strip_prefix("docker.io/").unwrap_or(image);
    image.strip_prefix("library/").unwrap_or(image)
}

pub fn program_for(image: &str) -> Program {
    match repository(image) {
        "luksa/kubia" | "luksa/kubia-unhealthy" => Program::Kubia,
        "registry.k8s.io/e2e-test-images/agnhost" | "k8s.gcr.io/e2e-test-images/agnhost" => Program::NetExec,
        "registry.k8s.io/echoserver" | "k8s.gcr.io/echoserver" | "gcr.io/google_containers/echoserver" => {
            Program::EchoServer
        }
        "nginx"
        | "nginxinc/nginx-unprivileged"
        | "registry.k8s.io/nginx-slim"
        | "k8s.gcr.io/nginx-slim"
        | "gcr.io/google_containers/nginx-slim" => Program::Nginx,
        "busybox"
        | "tutum/dnsutils"
        | "alpine"
        | "ubuntu"
        | "debian"
        | "registry.k8s.io/e2e-test-images/jessie-dnsutils" => Program::Tools,
        _ => Program::Default,
    }
}
