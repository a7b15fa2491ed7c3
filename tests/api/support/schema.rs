//! A small JSON Schema (2020-12 subset) validator for the keywords utoipa emits, so tests can check
//! examples and real responses against the committed contract without another dependency.

use serde_json::Value;

/// The problems of `instance` against `schema`, resolving `$ref`s in `document` (the OpenAPI
/// document). Empty when it conforms.
pub fn validate(document: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    check(document, schema, instance, "$", &mut problems);
    problems
}

/// Validates against the component schema `name`.
pub fn validate_component(document: &Value, name: &str, instance: &Value) -> Vec<String> {
    let schema = &document["components"]["schemas"][name];
    assert!(schema.is_object(), "no component schema {name}");
    validate(document, schema, instance)
}

fn check(document: &Value, schema: &Value, instance: &Value, at: &str, problems: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        check(
            document,
            &document["components"]["schemas"][name],
            instance,
            at,
            problems,
        );
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for part in all {
            check(document, part, instance, at, problems);
        }
    }
    for keyword in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(keyword).and_then(Value::as_array) {
            let matching = options
                .iter()
                .filter(|option| validate(document, option, instance).is_empty())
                .count();
            let ok = if keyword == "oneOf" {
                matching == 1
            } else {
                matching >= 1
            };
            if !ok {
                problems.push(format!("{at}: matches {matching} of the {keyword} options"));
            }
        }
    }
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !allowed.iter().any(|t| has_type(instance, t)) {
            problems.push(format!("{at}: {instance} is not of type {allowed:?}"));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(instance)
    {
        problems.push(format!("{at}: {instance} is not one of {options:?}"));
    }
    if let Some(n) = instance.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            problems.push(format!("{at}: {n} < minimum {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            problems.push(format!("{at}: {n} > maximum {max}"));
        }
    }
    if let Some(s) = instance.as_str() {
        let length = s.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|min| length < min)
        {
            problems.push(format!("{at}: shorter than minLength"));
        }
        if schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|max| length > max)
        {
            problems.push(format!("{at}: longer than maxLength"));
        }
    }
    if let Some(items) = instance.as_array()
        && let Some(item_schema) = schema.get("items")
    {
        for (i, item) in items.iter().enumerate() {
            check(document, item_schema, item, &format!("{at}[{i}]"), problems);
        }
    }
    if let Some(object) = instance.as_object() {
        for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let key = required.as_str().unwrap_or_default();
            if !object.contains_key(key) {
                problems.push(format!("{at}: missing required `{key}`"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, value) in object {
            if let Some(property) = properties.and_then(|p| p.get(key)) {
                check(document, property, value, &format!("{at}.{key}"), problems);
            } else if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                check(document, additional, value, &format!("{at}.{key}"), problems);
                if let Some(names) = schema.get("propertyNames") {
                    check(
                        document,
                        names,
                        &Value::String(key.clone()),
                        &format!("{at} key {key}"),
                        problems,
                    );
                }
            }
        }
    }
}

fn has_type(instance: &Value, name: &str) -> bool {
    match name {
        "null" => instance.is_null(),
        "boolean" => instance.is_boolean(),
        "object" => instance.is_object(),
        "array" => instance.is_array(),
        "string" => instance.is_string(),
        "integer" => instance.is_i64() || instance.is_u64(),
        "number" => instance.is_number(),
        _ => false,
    }
}

/// Every property name a component schema declares, through `allOf` and `$ref`.
pub fn property_names(document: &Value, schema: &Value) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        names.extend(property_names(document, &document["components"]["schemas"][name]));
    }
    for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        names.extend(property_names(document, part));
    }
    for key in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
    {
        names.push(key.clone());
    }
    names.sort();
    names.dedup();
    names
}
