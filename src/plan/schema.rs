//! The JSON Schema of plan version 1, generated from the Rust types.

use super::types::Plan;
use serde_json::Value;
use std::sync::OnceLock;

/// The schema as a JSON value (cached).
pub fn plan_schema_value() -> Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let schema = schemars::schema_for!(Plan);
            serde_json::to_value(schema).expect("schema serialises")
        })
        .clone()
}

/// The schema, pretty-printed, as `netroot plan schema` prints it.
pub fn plan_schema_pretty() -> String {
    serde_json::to_string_pretty(&plan_schema_value()).expect("schema serialises")
}
