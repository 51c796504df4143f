//! Exec as kubectl uses it: commands and scripts through the JSON endpoint (pipes,
//! redirections, the shell's constructs, exit codes), and an interactive shell over the exec
//! websocket (prompts, Ctrl-C, output as it is written, background jobs, traps).

use crate::common;

use common::{KUBIA, Lab};
use serde_json::Value;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_a_shell_with_pipes_redirections_and_exit_codes() {
    let lab = Lab::start().await;
    lab.apply(KUBIA).await;
    lab.serving("kubia", 3).await;
    let pod = lab.running_pods().await[0].clone();
    let sh = |script: &str| {
        let script = script.to_string();
        let (lab, pod) = (&lab, pod.clone());
        async move { lab.exec(&pod, &["sh", "-c", &script]).await }
    };
    let out = sh("echo hello > /tmp/f; echo world >> /tmp/f; cat /tmp/f | grep -c o; wc -l < /tmp/f").await;
    assert_eq!(out["stdout"], "2\n2\n", "{out}");
    let out = sh("false && echo no || echo yes; ! true; echo $?").await;
    assert_eq!(out["stdout"], "yes\n1\n", "{out}");
    let out = sh("X=abc; export Y=$X-d; echo \"$X ${Y}\" '$X'; printenv Y").await;
    assert_eq!(out["stdout"], "abc abc-d $X\nabc-d\n", "{out}");
    let out = sh("ls /nope 2>&1 | head -n 1; exit 3").await;
    assert_eq!(out["stdout"], "ls: cannot access '/nope': No such file or directory\n");
    assert_eq!(out["exitCode"], 3);
    let out = sh("mkdir -p /a/b && cd /a && touch b/c && ls b && pwd && test -f /a/b/c && echo file").await;
    assert_eq!(out["stdout"], "c\n/a\nfile\n", "{out}");
    let out = sh("nosuch; echo $?").await;
    assert_eq!(out["stdout"], "127\n");
    assert_eq!(out["stderr"], "sh: nosuch: not found\n");
    let out = sh("echo $(hostname) | tr a-z A-Z").await;
    assert_eq!(out["stdout"], format!("{}\n", pod.to_uppercase()));
    let out = sh("cat /etc/resolv.conf").await;
    assert!(out["stdout"].as_str().unwrap().contains("nameserver 10.96.0.10\n"), "{out}");
    assert!(out["stdout"].as_str().unwrap().contains("options ndots:5"), "{out}");
    let out =
        sh("for i in 1 2 3; do echo $i; done | wc -l; if [ -f /etc/hosts ]; then echo yes; else echo no; fi").await;
    assert_eq!(out["stdout"], "3\nyes\n", "{out}");
    let out =
        sh("until test -f /tmp/stop; do touch /tmp/stop; echo once; done; while false; do echo never; done").await;
    assert_eq!(out["stdout"], "once\n", "{out}");
    // Runaway nesting is refused, not a crash.
    let deep = format!("echo {}x{}", "$(".repeat(3000), ")".repeat(3000));
    let out = sh(&deep).await;
    assert!(out["stderr"].as_str().unwrap().contains("sh: too many nested shells and substitutions"), "{out}");
    let out = sh("hostname").await;
    assert_eq!(out["stdout"], format!("{pod}\n"), "still answering");
    let out = sh("echo 'a |").await;
    assert_eq!(out["exitCode"], 2);
    assert_eq!(out["stderr"], "sh: syntax error: unterminated quoted string\n");

    // Options: -e exits at the first failure outside a condition, -x traces to standard error.
    let out =
        lab.exec(&pod, &["sh", "-ec", "if false; then echo no; fi; false || echo kept; false; echo not reached"]).await;
    assert_eq!((out["stdout"].as_str(), out["exitCode"].as_i64()), (Some("kept\n"), Some(1)), "{out}");
    let out = lab.exec(&pod, &["sh", "-xc", "N=2; echo \"$N words\" 2>&1 | wc -l"]).await;
    assert_eq!(out["stdout"], "1\n", "the trace is the shell's, not piped: {out}");
    assert_eq!(out["stderr"], "+ N=2\n+ echo '2 words'\n+ wc -l\n", "{out}");
    // Arithmetic, as the logging docs' counter pod counts; expr; an error ends the shell.
    let counter = "i=0; while [ $i -lt 3 ]; do echo \"$i: tick\"; i=$((i+1)); done; echo $((i * 2 + 1)) $(expr $i + 1)";
    let out = sh(counter).await;
    assert_eq!(out["stdout"], "0: tick\n1: tick\n2: tick\n7 4\n", "{out}");
    let nested = format!("echo {}1{}", "$((".repeat(200), "))".repeat(200));
    let out = sh(&nested).await;
    assert_eq!(
        (out["stderr"].as_str(), out["exitCode"].as_i64()),
        (Some("sh: too many nested shells and substitutions\n"), Some(2)),
        "{out}"
    );
    let out = sh("echo before; echo $((1 / 0)); echo after").await;
    assert_eq!((out["stdout"].as_str(), out["exitCode"].as_i64()), (Some("before\n"), Some(2)), "{out}");
    assert_eq!(out["stderr"], "sh: divide by zero\n", "{out}");
    // Positional parameters: `sh -c SCRIPT NAME ARG…`, "$@", shift and set --.
    let script = "echo $0 $# $1; for a in \"$@\"; do echo \"[$a]\"; done; shift; echo $@; set -- x y z; echo $# ${3}; for p; do printf %s $p; done";
    let out = lab.exec(&pod, &["sh", "-c", script, "name", "one", "two words"]).await;
    assert_eq!(out["stdout"], "name 2 one\n[one]\n[two words]\ntwo words\n3 z\nxyz", "{out}");
    // ${…}'s operators, as StatefulSet pods read their ordinal from their name.
    let script = "HOSTNAME=web-12; echo ${HOSTNAME##*-} ${HOSTNAME%-*} ${#HOSTNAME} ${UNSET:-d} ${N:=4}$N ${N:+alt}; echo ${MISSING:?is required}; echo not reached";
    let out = sh(script).await;
    assert_eq!(out["stdout"], "12 web 6 d 44 alt\n", "{out}");
    assert_eq!(
        (out["stderr"].as_str(), out["exitCode"].as_i64()),
        (Some("sh: MISSING: is required\n"), Some(2)),
        "{out}"
    );
    // Functions with their own parameters, local variables and return; brace groups.
    let script = "greet () {\n  local who=$1\n  echo \"hi $who from $0\"\n  return 3\n  echo never\n}\nwho=outer; greet kubia; echo \"code $? who $who $#\"; { echo grouped; echo too; } | wc -l";
    let out = lab.exec(&pod, &["sh", "-c", script, "entry"]).await;
    assert_eq!(out["stdout"], "hi kubia from entry\ncode 3 who outer 0\n2\n", "{out}");
    let out = sh("f() { echo in; }; f; g() echo x").await;
    assert_eq!(out["stderr"], "sh: syntax error: unexpected word\n", "{out}");
    // read, a line at a time from a loop's input: a file, or a pipe.
    let script = "printf 'web 80\\nkubia 8080\\nlast 1' > /tmp/ports; while read name port; do echo \"$name=$port\"; done < /tmp/ports; seq 2 | while read n; do echo \"n$n\"; done; echo 'x y  z' | { read -r a b; echo \"[$b]\"; }";
    let out = sh(script).await;
    assert_eq!(
        out["stdout"], "web=80\nkubia=8080\nn1\nn2\n[y  z]\n",
        "the last line has no newline: read fails on it: {out}"
    );
    // Here-documents, as init containers write configuration: expanded unless the word is
    // quoted, tabs stripped with <<-.
    let script = "cat <<EOF > /tmp/conf\nname=$(hostname)\nport=$((8000 + 80))\nquote=\"x\"\nEOF\ncat /tmp/conf; cat <<'RAW'; cat <<-TABS\n$HOME\nRAW\n\tindented\n\tTABS\necho done";
    let out = sh(script).await;
    assert_eq!(out["stdout"], format!("name={pod}\nport=8080\nquote=\"x\"\n$HOME\nindented\ndone\n"), "{out}");
    // case, printf and date's formats, as entrypoint scripts use them.
    let script = "for pod in kubia-x2 web-0 other; do case $pod in kubia-*|web-[0-9]) printf '%-8s|%03d\\n' $pod 7 ;; *) echo \"no $pod\" ;; esac; done; date +%Y | wc -c";
    let out = sh(script).await;
    assert_eq!(out["stdout"], "kubia-x2|007\nweb-0   |007\nno other\n5\n", "{out}");
    // A subshell's changes stay in it; its exit ends only it; patterns may open with `(`.
    let script = "X=1; cd /; (X=2; cd /etc; echo $X $(pwd); exit 3); echo $? $X $(pwd); (echo a; echo b) | wc -l; case web in (web) echo matched;; esac";
    let out = sh(script).await;
    assert_eq!(out["stdout"], "2 /etc\n3 1 /\n2\nmatched\n", "{out}");
    // trap: EXIT runs as the shell ends (`set -e` or `exit`), with its status; signals' actions are
    // kept and listed.
    let out = sh("trap 'echo bye $?' EXIT; trap 'exit 0' SIGTERM; trap; echo work; exit 3").await;
    assert_eq!(out["stdout"], "trap -- 'echo bye $?' EXIT\ntrap -- 'exit 0' TERM\nwork\nbye 3\n", "{out}");
    assert_eq!(out["exitCode"], 3);
    let out = sh("set -e; trap 'echo cleanup' 0; false; echo never").await;
    assert_eq!((out["stdout"].as_str(), out["exitCode"].as_i64()), (Some("cleanup\n"), Some(1)), "{out}");
    let out = sh("trap 'echo x' NOPE").await;
    assert_eq!((out["stderr"].as_str(), out["exitCode"].as_i64()), (Some("sh: trap: NOPE: bad trap\n"), Some(1)));
    // Background jobs: `&`, `$!`, `wait` for one (its exit code) or for all.
    let out = sh(
        "sleep 0.2 & echo started; wait $!; echo \"done $?\"; (exit 4) & wait $!; echo $?; echo bg & wait; wait 999",
    )
    .await;
    assert_eq!(out["stdout"], "started\ndone 0\n4\nbg\n", "{out}");
    assert_eq!(
        (out["stderr"].as_str(), out["exitCode"].as_i64()),
        (Some("sh: wait: pid 999 is not a child of this shell\n"), Some(127))
    );
    let out = sh("echo abcdef | head -c 3; echo; printf abcdef | tail -c2; echo; seq 5 | tail -n 2").await;
    assert_eq!(out["stdout"], "abc\nef\n4\n5\n", "{out}");
    // env runs a command with variables set; seq and awk in a pipe, wget -S's headers.
    let out = lab
        .exec(&pod, &["env", "GREETING=hi", "sh", "-c", "echo $GREETING; seq 2 4 | awk '/3|4/{print NR, $1}'"])
        .await;
    assert_eq!(out["stdout"], "hi\n2 3\n3 4\n", "{out}");
    let out = sh("wget -S -O /dev/null http://localhost:8080/ 2>&1 | awk '/^  HTTP/{print $2}'").await;
    assert_eq!(out["stdout"], "200\n", "{out}");

    // An unknown program is refused as the container runtime does.
    let out = lab.exec(&pod, &["nosuch"]).await;
    assert_eq!(out["exitCode"], 127);
    assert!(out["stderr"].as_str().unwrap().contains("executable file not found in $PATH"), "{out}");

    // Ping: a pod answers, a service's cluster IP never does.
    let (_, svc) = lab.get("/api/v1/namespaces/default/services/kubia").await;
    let ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
    let (_, p) = lab.get(&format!("/api/v1/namespaces/default/pods/{pod}")).await;
    let pod_ip = p["status"]["podIP"].as_str().unwrap().to_string();
    let out = lab.exec(&pod, &["ping", "-c", "1", &pod_ip]).await;
    assert_eq!(out["exitCode"], 0, "{out}");
    assert!(out["stdout"].as_str().unwrap().contains("1 packets transmitted, 1 packets received, 0% packet loss"));
    let out = lab.exec(&pod, &["ping", "-c", "1", "-W", "0.1", &ip]).await;
    assert_eq!(out["exitCode"], 1, "{out}");
    assert!(out["stdout"].as_str().unwrap().contains("100% packet loss"), "{out}");

    // curl's options and wget.
    let out = lab.exec(&pod, &["curl", "-s", "-o", "/tmp/page", "-w", "%{http_code}", &format!("http://{ip}")]).await;
    assert_eq!(out["stdout"], "200");
    let out = sh("cat /tmp/page; wget -qO- http://$KUBIA_SERVICE_HOST").await;
    let text = out["stdout"].as_str().unwrap();
    assert_eq!(text.matches("You've hit ").count(), 2, "{out}");
    lab.app.shutdown().await;
}

/// An exec websocket speaking `v5.channel.k8s.io`, as kubectl does.
struct ExecSocket {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl ExecSocket {
    async fn open(lab: &Lab, pod: &str, query: &str) -> ExecSocket {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("ws://{}/api/v1/namespaces/default/pods/{pod}/exec?{query}", lab.app.api_addr);
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", "v5.channel.k8s.io".parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("exec websocket");
        assert_eq!(response.headers()["sec-websocket-protocol"], "v5.channel.k8s.io");
        ExecSocket { socket }
    }

    async fn send(&mut self, channel: u8, data: &[u8]) {
        use futures::SinkExt;
        let mut frame = vec![channel];
        frame.extend_from_slice(data);
        self.socket.send(tokio_tungstenite::tungstenite::Message::Binary(frame.into())).await.unwrap();
    }

    /// Reads frames until stdout ends with `until` (or the status frame comes); returns
    /// (stdout, stderr, status).
    async fn read_until(&mut self, until: &str) -> (String, String, Option<Value>) {
        use futures::StreamExt;
        let (mut out, mut err) = (String::new(), String::new());
        let read = async {
            while let Some(Ok(msg)) = self.socket.next().await {
                let tokio_tungstenite::tungstenite::Message::Binary(data) = msg else { continue };
                let text = String::from_utf8_lossy(&data[1..]).into_owned();
                match data[0] {
                    1 => out.push_str(&text),
                    2 => err.push_str(&text),
                    3 => return Some(serde_json::from_str(&text).unwrap()),
                    _ => {}
                }
                if !until.is_empty() && out.ends_with(until) {
                    return None;
                }
            }
            None
        };
        let status = tokio::time::timeout(PATIENCE, read).await.expect("exec output in time");
        (out, err, status)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_shell_over_the_exec_websocket() {
    let lab = Lab::start().await;
    lab.apply(KUBIA).await;
    lab.serving("kubia", 3).await;
    let pod = lab.running_pods().await[0].clone();

    // `kubectl exec -it <pod> -- sh`: a prompt, echo, pipes and exit codes.
    let mut tty = ExecSocket::open(&lab, &pod, "command=sh&stdin=true&stdout=true&tty=true").await;
    let (out, _, _) = tty.read_until("/ # ").await;
    assert_eq!(out, "/ # ");
    tty.send(0, b"echo hello | tr a-z A-Z\r").await;
    let (out, _, _) = tty.read_until("/ # ").await;
    assert_eq!(out, "echo hello | tr a-z A-Z\r\nHELLO\r\n/ # ");
    tty.send(0, b"mkdir /data; cd /data; false || echo $?\r").await;
    let (out, _, _) = tty.read_until("/data # ").await;
    assert!(out.ends_with("\r\n1\r\n/data # "), "{out:?}");
    // Ctrl-C interrupts a command that would run for ever.
    tty.send(0, b"sleep infinity\r").await;
    tty.read_until("sleep infinity\r\n").await;
    tty.send(0, b"\x03").await;
    let (out, _, _) = tty.read_until("/data # ").await;
    assert_eq!(out, "^C\r\n/data # ");
    // Many interrupts leave the shell as it was.
    for _ in 0..40 {
        tty.send(0, b"sleep infinity\r").await;
        tty.read_until("sleep infinity\r\n").await;
        tty.send(0, b"\x03").await;
        tty.read_until("/data # ").await;
    }
    // A loop's lines show as each turn prints them, until Ctrl-C; so do ping's replies.
    tty.send(0, b"while true; do echo tick; sleep 0.05; done\r").await;
    tty.read_until("tick\r\n").await;
    tty.read_until("tick\r\n").await;
    tty.send(0, b"\x03").await;
    let (out, _, _) = tty.read_until("/data # ").await;
    assert!(out.ends_with("^C\r\n/data # "), "{out:?}");
    tty.send(0, b"ping -i 0.05 $(hostname -i)\r").await;
    let (out, _, _) = tty.read_until(" ms\r\n").await;
    assert!(out.contains("\r\n64 bytes from 10.244."), "{out:?}");
    tty.read_until(" ms\r\n").await;
    tty.send(0, b"\x03").await;
    tty.read_until("/data # ").await;
    // What a loop or a function writes as it goes still follows their redirections.
    tty.send(
        0,
        b"for i in 1 2; do echo line$i; done > lines; f() { echo out; echo err >&2; }; f 2>/dev/null; cat lines\r",
    )
    .await;
    let (out, _, _) = tty.read_until("/data # ").await;
    assert!(out.ends_with("\r\nout\r\nline1\r\nline2\r\n/data # "), "{out:?}");
    // A background job writes to the terminal as it goes, while the shell takes commands.
    tty.send(0, b"(sleep 0.2; echo later) & echo now\r").await;
    let (out, _, _) = tty.read_until("later\r\n").await;
    assert!(out.contains("now\r\n/data # ") && out.ends_with("later\r\n"), "{out:?}");
    tty.send(0, b"echo $(echo $(echo nested))\r").await;
    let (out, _, _) = tty.read_until("/data # ").await;
    assert!(out.contains("\r\nnested\r\n"), "{out:?}");
    tty.send(0, b"trap 'echo bye' EXIT\r").await;
    tty.read_until("/data # ").await;
    tty.send(0, b"exit 4\r").await;
    let (out, _, status) = tty.read_until("").await;
    assert!(out.ends_with("exit 4\r\nbye\r\n"), "the EXIT trap ran: {out:?}");
    let status = status.expect("a status frame");
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "4");

    // `kubectl exec -i <pod> -- sh` without a tty: lines in, no echo, stdin closed with 255.
    let mut pipe = ExecSocket::open(&lab, &pod, "command=sh&stdin=true&stdout=true&stderr=true").await;
    pipe.send(0, b"echo one; nosuch\necho two").await;
    pipe.send(255, &[0]).await;
    let (out, err, status) = pipe.read_until("").await;
    assert_eq!(out, "one\ntwo\n");
    assert_eq!(err, "sh: nosuch: not found\n");
    assert_eq!(status.unwrap()["status"], "Success");

    // A single command: its exit code in the status, and a bad container refused before upgrading.
    let mut one = ExecSocket::open(&lab, &pod, "command=ls&command=/nope&stdout=true&stderr=true").await;
    let (_, err, status) = one.read_until("").await;
    assert_eq!(err, "ls: cannot access '/nope': No such file or directory\n");
    assert_eq!(status.unwrap()["details"]["causes"][0]["message"], "2");
    let refused = lab.get(&format!("/api/v1/namespaces/default/pods/{pod}/exec?command=ls&container=nope")).await;
    assert_eq!(refused.0, 400);
    assert_eq!(refused.1["message"], format!("container nope is not valid for pod {pod}"));
    let refused = lab.get(&format!("/api/v1/namespaces/default/pods/{pod}/exec?command=ls")).await;
    assert_eq!((refused.0, refused.1["message"].as_str()), (400, Some("Upgrade request required")));
    lab.app.shutdown().await;
}
