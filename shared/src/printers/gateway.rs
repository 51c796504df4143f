//! Columns of the Gateway API kinds, as their CRDs' `additionalPrinterColumns` define them
//! (kube-apiserver prints a CRD's columns from JSONPaths; these are the same cells).

use super::{AGE, Column, NAME, Row, age, column, wide};
use crate::gateway::{Gateway, GatewayClass, HttpRoute, ReferenceGrant};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::Value;

/// A condition's status by type (`True`, `False`, `Unknown`), empty when absent, as the
/// `{.status.conditions[?(@.type=="Programmed")].status}` column prints it.
pub fn condition_status(conditions: Option<&Vec<Condition>>, type_: &str) -> String {
    conditions.into_iter().flatten().find(|c| c.type_ == type_).map(|c| c.status.clone()).unwrap_or_default()
}

pub const GATEWAYCLASS_COLUMNS: &[Column] =
    &[NAME, column("Controller", ""), column("Accepted", ""), AGE, wide("Description", "")];

pub fn gateway_class(class: &GatewayClass, now: Timestamp) -> Row {
    let accepted = condition_status(class.status.as_ref().and_then(|s| s.conditions.as_ref()), "Accepted");
    Row::new(vec![
        class.metadata.name.clone().unwrap_or_default().into(),
        class.spec.controller_name.clone().into(),
        accepted.into(),
        age(class.metadata.creation_timestamp.as_ref(), now).into(),
        class.spec.description.clone().unwrap_or_default().into(),
    ])
}

pub const GATEWAY_COLUMNS: &[Column] =
    &[NAME, column("Class", ""), column("Address", ""), column("Programmed", ""), AGE];

pub fn gateway(gateway: &Gateway, now: Timestamp) -> Row {
    let status = gateway.status.as_ref();
    let address = status.and_then(|s| s.addresses.as_ref()).and_then(|a| a.first()).map(|a| a.value.clone());
    let programmed = condition_status(status.and_then(|s| s.conditions.as_ref()), "Programmed");
    Row::new(vec![
        gateway.metadata.name.clone().unwrap_or_default().into(),
        gateway.spec.gateway_class_name.clone().into(),
        address.unwrap_or_default().into(),
        programmed.into(),
        age(gateway.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}

pub const HTTPROUTE_COLUMNS: &[Column] = &[NAME, column("Hostnames", ""), AGE];

pub fn http_route(route: &HttpRoute, now: Timestamp) -> Row {
    // A JSONPath to a list prints the list as JSON.
    let hostnames = route.spec.hostnames.as_ref().map_or_else(String::new, |h| Value::from(h.clone()).to_string());
    Row::new(vec![
        route.metadata.name.clone().unwrap_or_default().into(),
        hostnames.into(),
        age(route.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}

pub const REFERENCEGRANT_COLUMNS: &[Column] = &[NAME, AGE];

pub fn reference_grant(grant: &ReferenceGrant, now: Timestamp) -> Row {
    Row::new(vec![
        grant.metadata.name.clone().unwrap_or_default().into(),
        age(grant.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}
