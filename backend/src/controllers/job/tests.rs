//! The Job controller's counting and decisions.

use super::*;
use serde_json::json;

fn job(spec: serde_json::Value) -> Job {
    serde_json::from_value(json!({"metadata": {"name": "pi", "namespace": "default", "uid": "u"}, "spec": spec}))
        .unwrap()
}

fn pod(phase: &str, index: Option<i32>) -> Pod {
    let annotations = index.map(|i| json!({INDEX_ANNOTATION: i.to_string()}));
    serde_json::from_value(json!({"metadata": {"name": format!("pi-{phase}"), "annotations": annotations},
        "status": {"phase": phase}}))
    .unwrap()
}

fn now() -> Timestamp {
    "2026-01-01T12:00:00Z".parse().unwrap()
}

#[test]
fn pods_run_up_to_parallelism_until_completions_succeed() {
    let j = job(json!({"completions": 5, "parallelism": 2, "template": {}}));
    let run = |pods: &[Pod]| decide(&j, &count(pods), now());
    assert_eq!(run(&[]), Decision::Run { create: vec![None, None], delete: 0, wait: Duration::ZERO });
    let some = [pod("Succeeded", None), pod("Succeeded", None), pod("Succeeded", None), pod("Running", None)];
    assert_eq!(run(&some), Decision::Run { create: vec![None], delete: 0, wait: Duration::ZERO });
    let last = [
        pod("Succeeded", None),
        pod("Succeeded", None),
        pod("Succeeded", None),
        pod("Succeeded", None),
        pod("Running", None),
    ];
    assert_eq!(run(&last), Decision::Run { create: vec![], delete: 0, wait: Duration::ZERO }, "one left to do");
    let done: Vec<Pod> = (0..5).map(|_| pod("Succeeded", None)).collect();
    assert_eq!(run(&done), Decision::Complete);
}

#[test]
fn failures_back_off_then_fail_the_job() {
    let j = job(json!({"completions": 1, "parallelism": 1, "backoffLimit": 1, "template": {}}));
    let mut failed = pod("Failed", None);
    let finished = json!([{"name": "c", "restartCount": 0, "image": "", "imageID": "", "ready": false,
        "state": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T11:59:55Z"}}}]);
    failed.status.as_mut().unwrap().container_statuses = Some(serde_json::from_value(finished).unwrap());
    let one = decide(&j, &count(std::slice::from_ref(&failed)), now());
    assert_eq!(
        one,
        Decision::Run { create: vec![None], delete: 0, wait: Duration::from_secs(5) },
        "10 s after the failure"
    );
    let two = decide(&j, &count(&[failed.clone(), failed]), now());
    assert_eq!(two, Decision::Failed("BackoffLimitExceeded", "Job has reached the specified backoff limit"));
}

#[test]
fn indexed_jobs_run_each_index_once() {
    let j = job(json!({"completions": 3, "parallelism": 2, "completionMode": "Indexed", "template": {}}));
    let c = count(&[pod("Succeeded", Some(0)), pod("Running", Some(1))]);
    assert_eq!(decide(&j, &c, now()), Decision::Run { create: vec![Some(2)], delete: 0, wait: Duration::ZERO });
    let all = count(&[pod("Succeeded", Some(0)), pod("Succeeded", Some(1)), pod("Succeeded", Some(2))]);
    assert_eq!(decide(&j, &all, now()), Decision::Complete);
    assert_eq!(compress(&[0, 1, 2, 5, 7, 8].into()), "0-2,5,7-8");
}

#[test]
fn suspended_and_deadlined_jobs_stop() {
    let suspended = job(json!({"completions": 1, "suspend": true, "template": {}}));
    assert_eq!(decide(&suspended, &Counts::default(), now()), Decision::Suspend);
    let mut late = job(json!({"completions": 1, "activeDeadlineSeconds": 30, "template": {}}));
    late.status = Some(serde_json::from_value(json!({"startTime": "2026-01-01T11:59:00Z"})).unwrap());
    assert_eq!(
        decide(&late, &Counts::default(), now()),
        Decision::Failed("DeadlineExceeded", "Job was active longer than specified deadline")
    );
}

#[test]
fn a_work_queue_completes_when_one_pod_succeeded_and_none_runs() {
    let j = job(json!({"parallelism": 2, "template": {}}));
    assert_eq!(
        decide(&j, &count(&[]), now()),
        Decision::Run { create: vec![None, None], delete: 0, wait: Duration::ZERO }
    );
    let busy = count(&[pod("Succeeded", None), pod("Running", None)]);
    assert_eq!(decide(&j, &busy, now()), Decision::Run { create: vec![], delete: 0, wait: Duration::ZERO });
    assert_eq!(decide(&j, &count(&[pod("Succeeded", None), pod("Succeeded", None)]), now()), Decision::Complete);
}
