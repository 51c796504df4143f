//! The statuses svclab's Gateway controller writes, as Gateway API conformance expects them,
//! computed purely from the [`Model`]: GatewayClass `Accepted`; Gateway `Accepted` and
//! `Programmed` with its address, and per listener `Accepted`, `Programmed`, `ResolvedRefs`,
//! `Conflicted` and `attachedRoutes`; each HTTPRoute parent's `Accepted` and `ResolvedRefs`.
//! Every condition carries the object's generation; a condition keeps its transition time while
//! its status stays.

use super::model::{GatewayModel, ListenerState, Model, Outcome, ParentState};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use svclab_shared::gateway::{CONTROLLER, GROUP, class, condition, gw, route, set_conditions};

fn outcome(type_: &str, result: &Outcome, ok: (&str, &str), generation: Option<i64>, now: &Time) -> Condition {
    match result {
        Ok(()) => condition(type_, true, ok.0, ok.1, generation, now),
        Err((reason, message)) => condition(type_, false, reason, message, generation, now),
    }
}

/// A GatewayClass of svclab's controller: accepted.
pub fn gateway_class(
    old: Option<&class::GatewayClassStatus>,
    generation: Option<i64>,
    now: &Time,
) -> class::GatewayClassStatus {
    let old_conditions = old.and_then(|s| s.conditions.clone()).unwrap_or_default();
    let conditions = vec![condition("Accepted", true, "Accepted", "Valid GatewayClass", generation, now)];
    class::GatewayClassStatus {
        conditions: Some(set_conditions(&old_conditions, conditions)),
        supported_features: old.and_then(|s| s.supported_features.clone()),
    }
}

fn listener(
    l: &ListenerState,
    bind_error: Option<&String>,
    generation: Option<i64>,
    now: &Time,
) -> (Vec<Condition>, bool) {
    let accepted = match (bind_error, &l.accepted) {
        (Some(e), Ok(())) => Err(("PortUnavailable", e.clone())),
        (_, a) => a.clone(),
    };
    let conflicted = match &l.conflict {
        Some((reason, message)) => condition("Conflicted", true, reason, message, generation, now),
        None => condition("Conflicted", false, "NoConflicts", "No conflicts", generation, now),
    };
    let programmed = accepted.is_ok() && l.resolved.is_ok() && l.conflict.is_none();
    let programmed_condition = if programmed {
        condition("Programmed", true, "Programmed", "Listener is programmed", generation, now)
    } else {
        condition("Programmed", false, "Invalid", "Listener is invalid, see other conditions", generation, now)
    };
    let conditions = vec![
        outcome("Accepted", &accepted, ("Accepted", "Listener is accepted"), generation, now),
        programmed_condition,
        outcome("ResolvedRefs", &l.resolved, ("ResolvedRefs", "Resolved all the Object references"), generation, now),
        conflicted,
    ];
    (conditions, programmed)
}

/// A Gateway's status: its address (`None`: none assigned), listeners and conditions.
pub fn gateway(
    old: Option<&gw::GatewayStatus>,
    model: &GatewayModel,
    address: Option<Ipv4Addr>,
    bind_errors: &BTreeMap<u16, String>,
    now: &Time,
) -> gw::GatewayStatus {
    let generation = model.generation;
    let old_listeners = old.and_then(|s| s.listeners.clone()).unwrap_or_default();
    let mut listeners = Vec::new();
    let mut any_programmed = false;
    for l in &model.listeners {
        let (conditions, programmed) = listener(l, bind_errors.get(&l.port), generation, now);
        any_programmed |= programmed;
        let before = old_listeners.iter().find(|o| o.name == l.name).map(|o| o.conditions.clone()).unwrap_or_default();
        listeners.push(gw::GatewayStatusListeners {
            name: l.name.clone(),
            attached_routes: l.attached,
            conditions: set_conditions(&before, conditions),
            supported_kinds: Some(vec![gw::GatewayStatusListenersSupportedKinds {
                group: Some(GROUP.into()),
                kind: "HTTPRoute".into(),
            }]),
        });
    }
    let all_valid = model.listeners.iter().all(|l| l.accepted.is_ok() && l.conflict.is_none());
    let accepted = if all_valid || any_programmed {
        condition("Accepted", true, "Accepted", "The Gateway has been accepted by svclab", generation, now)
    } else {
        condition("Accepted", false, "ListenersNotValid", "No listener is valid", generation, now)
    };
    let programmed = match address {
        None => condition(
            "Programmed",
            false,
            "AddressNotAssigned",
            "No address could be assigned from the load-balancer pool",
            generation,
            now,
        ),
        Some(_) if !any_programmed => {
            condition("Programmed", false, "Invalid", "No listener is programmed", generation, now)
        }
        Some(ip) => {
            let n = model.listeners.len();
            let ready = model
                .listeners
                .iter()
                .filter(|l| l.accepted.is_ok() && l.resolved.is_ok() && l.conflict.is_none())
                .count();
            let message = format!("Address {ip} assigned to the Gateway, {ready}/{n} listener(s) programmed");
            condition("Programmed", true, "Programmed", &message, generation, now)
        }
    };
    let old_conditions = old.and_then(|s| s.conditions.clone()).unwrap_or_default();
    gw::GatewayStatus {
        addresses: address
            .map(|ip| vec![gw::GatewayStatusAddresses { r#type: Some("IPAddress".into()), value: ip.to_string() }]),
        attached_listener_sets: old.and_then(|s| s.attached_listener_sets),
        conditions: Some(set_conditions(&old_conditions, vec![accepted, programmed])),
        listeners: Some(listeners),
    }
}

/// An HTTPRoute's status: the parents of other controllers kept, svclab's written from the model.
pub fn http_route(
    old: Option<&route::HttpRouteStatus>,
    states: &[ParentState],
    generation: Option<i64>,
    now: &Time,
) -> route::HttpRouteStatus {
    let old_parents = old.map(|s| s.parents.clone()).unwrap_or_default();
    let mut parents: Vec<route::HttpRouteStatusParents> =
        old_parents.iter().filter(|p| p.controller_name != CONTROLLER).cloned().collect();
    for state in states {
        let p = &state.parent;
        let parent_ref = route::HttpRouteStatusParentsParentRef {
            group: p.group.clone(),
            kind: p.kind.clone(),
            name: p.name.clone(),
            namespace: p.namespace.clone(),
            port: p.port,
            section_name: p.section_name.clone(),
        };
        let before = old_parents
            .iter()
            .find(|o| o.controller_name == CONTROLLER && o.parent_ref == parent_ref)
            .map(|o| o.conditions.clone())
            .unwrap_or_default();
        let mut conditions = vec![
            outcome("Accepted", &state.accepted, ("Accepted", "Route is accepted"), generation, now),
            outcome(
                "ResolvedRefs",
                &state.resolved,
                ("ResolvedRefs", "Resolved all the Object references for the Route"),
                generation,
                now,
            ),
        ];
        if let Some(message) = &state.partially_invalid {
            conditions.push(condition("PartiallyInvalid", true, "UnsupportedValue", message, generation, now));
        }
        parents.push(route::HttpRouteStatusParents {
            conditions: set_conditions(&before, conditions),
            controller_name: CONTROLLER.into(),
            parent_ref,
        });
    }
    route::HttpRouteStatus { parents }
}

/// Whether svclab's controller serves the class `name`.
pub fn ours(model: &Model, name: &str) -> bool {
    model.classes.iter().any(|c| c == name)
}
