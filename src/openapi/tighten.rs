//! What every operation and schema of the document has in common, stated once rather than on each
//! handler: the responses any request can meet on its way through the middleware (413, 415, 429,
//! 503), `security: []` on public operations, parameters that are never `null`, and maps keyed by a
//! code set spelled out so that a generated client gets a record keyed by that set.
//!
//! Applied to the document the handlers' annotations produce (idempotent), before it is served or
//! compared with the committed `openapi.yaml`.

use std::collections::BTreeMap;

use utoipa::openapi::path::{Operation, Parameter, ParameterIn};
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Schema, SchemaType, Type};
use utoipa::openapi::server::Server;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response, ResponseBuilder};

/// The shared responses, by name: status, description.
const SHARED: &[(&str, &str, &str)] = &[
    (
        "PayloadTooLarge",
        "413",
        "The request body (or its declared `Content-Length`) is larger than the service accepts \
         (`MAX_BODY_BYTES`, 1 MiB by default).",
    ),
    (
        "UnsupportedMediaType",
        "415",
        "The body is not JSON: send `Content-Type: application/json` (or, for a patch, \
         `application/merge-patch+json`).",
    ),
    (
        "TooManyRequests",
        "429",
        "Too many requests from this address or with this credential; `Retry-After` says when to \
         try again.",
    ),
    (
        "Unavailable",
        "503",
        "The service cannot answer now: its database is unreachable, the request took longer than \
         `REQUEST_TIMEOUT_SECS`, or it is at its limit of requests in flight. Safe to retry after \
         `Retry-After` seconds.",
    ),
];

/// Applies every rule to `document`.
pub(crate) fn apply(document: &mut OpenApi) {
    if document.servers.is_none() {
        document.servers = Some(vec![
            Server::builder()
                .url("/")
                .description(Some("This server: the API and its documentation share one origin."))
                .build(),
        ]);
    }
    let components = document.components.get_or_insert_with(Default::default);
    shared_responses(components);
    flatten_all_of(&mut components.schemas);
    widen(&mut components.schemas, "SiteHit", "Site");
    widen(&mut components.schemas, "OfferSummary", "Offer");
    let named_sets = named_enums(&components.schemas);
    for schema in components.schemas.values_mut() {
        visit(schema, &named_sets);
    }

    let bodies = request_bodies(document);
    let components = document.components.get_or_insert_with(Default::default);
    site_bodies_take_null(components);
    for name in bodies {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(&name)
            && object.additional_properties.is_none()
        {
            // Every body of this API refuses unknown fields (422 naming them).
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }

    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            operation_rules(path, operation, &named_sets);
        }
    }
}

/// The responses every operation may give (`SHARED`), as components.
fn shared_responses(components: &mut utoipa::openapi::Components) {
    for (name, status, description) in SHARED {
        let mut response = ResponseBuilder::new().description(*description);
        if *status == "429" || *status == "503" {
            response = response.header(
                "Retry-After",
                utoipa::openapi::HeaderBuilder::new()
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(0)),
                    ))
                    .description(Some("Seconds to wait before trying again."))
                    .build(),
            );
        }
        let response: Response = response
            .content(
                crate::error::PROBLEM_JSON,
                Content::new(Some(Ref::from_schema_name("Problem"))),
            )
            .build();
        components.responses.insert((*name).to_owned(), RefOr::T(response));
    }
}

/// A site's lists and offers are read like its other optional fields: `null` is "none" when
/// creating and clears them in a patch (a response always carries them).
fn site_bodies_take_null(components: &mut utoipa::openapi::Components) {
    for name in ["NewSite", "SitePatch"] {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
            let required = object.required.clone();
            for (field, property) in object.properties.iter_mut() {
                if let RefOr::T(Schema::Array(array)) = property
                    && !required.contains(field)
                    && array.schema_type == SchemaType::Type(Type::Array)
                {
                    array.schema_type = SchemaType::from_iter([Type::Array, Type::Null]);
                }
                if let RefOr::T(Schema::Object(offers)) = property
                    && field == "offers"
                    && offers.schema_type == SchemaType::Type(Type::Object)
                {
                    offers.schema_type = SchemaType::from_iter([Type::Object, Type::Null]);
                }
            }
        }
    }
}

fn operation_rules(path: &str, operation: &mut Operation, named_sets: &[(String, Vec<serde_json::Value>)]) {
    if operation.security.is_none() {
        // Public: no credential needed (one is still honoured where the operation says so).
        operation.security = Some(Vec::new());
    }
    for parameter in operation.parameters.iter_mut().flatten() {
        if let RefOr::T(parameter) = parameter {
            parameter_rules(parameter, named_sets);
        }
    }
    if let Some(RefOr::T(body)) = &mut operation.request_body {
        // An optional body (`Option<Json<T>>`) is rendered as `oneOf: [T, null]`, but a JSON
        // `null` body is refused: the body is T, and may be left out.
        for content in body.content.values_mut() {
            if let RefOr::T(content) = content
                && let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema
                && let [body_schema @ RefOr::Ref(_), RefOr::T(Schema::Object(null))] = one_of.items.as_slice()
                && null.schema_type == SchemaType::Type(Type::Null)
            {
                content.schema = Some(body_schema.clone());
                body.required = Some(utoipa::openapi::Required::False);
            }
        }
        for content in body.content.values_mut() {
            if let RefOr::T(content) = content
                && let Some(schema) = &mut content.schema
            {
                visit(schema, named_sets);
            }
        }
    }
    let responses = &mut operation.responses.responses;
    for content in responses.values_mut().filter_map(|r| match r {
        RefOr::T(response) => Some(response),
        RefOr::Ref(_) => None,
    }) {
        for media in content.content.values_mut() {
            if let RefOr::T(media) = media
                && let Some(schema) = &mut media.schema
            {
                visit(schema, named_sets);
            }
        }
    }
    let mut shared = vec![("413", "PayloadTooLarge"), ("503", "Unavailable")];
    if operation.request_body.is_some() {
        shared.push(("415", "UnsupportedMediaType"));
    }
    if !crate::http::PROBES.contains(&path) {
        shared.push(("429", "TooManyRequests"));
    }
    for (status, name) in shared {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}

/// The component schemas that are request bodies.
fn request_bodies(document: &OpenApi) -> Vec<String> {
    let mut names = Vec::new();
    for item in document.paths.paths.values() {
        let operations = [&item.get, &item.put, &item.post, &item.delete, &item.patch];
        for operation in operations.into_iter().flatten() {
            if let Some(RefOr::T(body)) = &operation.request_body {
                for content in body.content.values() {
                    if let RefOr::T(content) = content
                        && let Some(RefOr::Ref(reference)) = &content.schema
                    {
                        names.push(
                            reference
                                .ref_location
                                .trim_start_matches("#/components/schemas/")
                                .to_owned(),
                        );
                    }
                }
            }
        }
    }
    names
}

/// A struct with a `#[serde(flatten)]` field is rendered as `allOf` of the flattened type and the
/// rest; merged into one object it can say `additionalProperties: false` (which `allOf` parts
/// cannot: each would refuse the other's properties) and reads as one shape.
/// Search hits are summaries unless `view=full` asks for whole sites: `narrow` keeps its required
/// fields and gains every other field of `whole`, optional (present with `view=full`).
fn widen(schemas: &mut BTreeMap<String, RefOr<Schema>>, narrow: &str, whole: &str) {
    let Some(RefOr::T(Schema::Object(whole))) = schemas.get(whole).cloned() else {
        return;
    };
    if let Some(RefOr::T(Schema::Object(narrow))) = schemas.get_mut(narrow) {
        for (name, property) in whole.properties {
            match name.as_str() {
                // Notices are only on responses to writes; offers are widened on their own.
                "notices" | "offers" => {}
                // The whole's schema of a shared field admits what both views send (a summary
                // leaves out what a whole site has as `null`).
                _ => {
                    narrow.properties.insert(name, property);
                }
            }
        }
    }
}

fn flatten_all_of(schemas: &mut BTreeMap<String, RefOr<Schema>>) {
    let snapshot = schemas.clone();
    let mut flattened: Vec<String> = Vec::new();
    for schema in schemas.values_mut() {
        let RefOr::T(Schema::AllOf(all_of)) = schema else {
            continue;
        };
        let parts: Option<Vec<utoipa::openapi::schema::Object>> = all_of
            .items
            .iter()
            .map(|item| match item {
                RefOr::T(Schema::Object(object)) => Some(object.clone()),
                RefOr::Ref(reference) => {
                    let name = reference.ref_location.trim_start_matches("#/components/schemas/");
                    flattened.push(name.to_owned());
                    match snapshot.get(name) {
                        Some(RefOr::T(Schema::Object(object))) => Some(object.clone()),
                        _ => None,
                    }
                }
                _ => None,
            })
            .collect();
        let Some(parts) = parts else { continue };
        let mut merged = utoipa::openapi::schema::Object::with_type(Type::Object);
        for part in parts {
            merged.properties.extend(part.properties);
            merged.required.extend(part.required);
            if part.additional_properties.is_some() {
                merged.additional_properties = part.additional_properties;
            }
        }
        merged.description = all_of.description.clone();
        merged.example = all_of.example.clone();
        merged.examples = all_of.examples.clone();
        *schema = RefOr::T(Schema::Object(merged));
    }
    // A schema that only ever was a flattened part (`SiteDetails`) is now in its wholes.
    let json = serde_json::to_string(&*schemas).unwrap_or_default();
    for name in flattened {
        if !json.contains(&format!("\"#/components/schemas/{name}\"")) {
            schemas.remove(&name);
        }
    }
}

/// A parameter is a string in a URL or a header: never `null`, whatever the Rust type was.
fn parameter_rules(parameter: &mut Parameter, named_sets: &[(String, Vec<serde_json::Value>)]) {
    if let Some(schema) = &mut parameter.schema {
        if let RefOr::T(Schema::Object(object)) = schema {
            object.schema_type = without_null(&object.schema_type);
        }
        visit(schema, named_sets);
    }
    if parameter.parameter_in == ParameterIn::Header
        && parameter.name == "Idempotency-Key"
        && let Some(RefOr::T(Schema::Object(object))) = &mut parameter.schema
    {
        object.min_length = Some(1);
        object.max_length = Some(255);
        object.pattern = Some("^[\\x21-\\x7E]+$".to_owned());
    }
}

fn without_null(schema_type: &SchemaType) -> SchemaType {
    match schema_type {
        SchemaType::Array(types) => {
            let kept: Vec<Type> = types.iter().filter(|t| **t != Type::Null).cloned().collect();
            match kept.as_slice() {
                [one] => SchemaType::Type(one.clone()),
                _ => SchemaType::Array(kept),
            }
        }
        other => other.clone(),
    }
}

/// The named string enums of the document (`Modality`, `SiteType`, ...) with their values.
fn named_enums(schemas: &BTreeMap<String, RefOr<Schema>>) -> Vec<(String, Vec<serde_json::Value>)> {
    schemas
        .iter()
        .filter_map(|(name, schema)| match schema {
            RefOr::T(Schema::Object(object)) => object.enum_values.clone().map(|values| (name.clone(), values)),
            _ => None,
        })
        .collect()
}

/// Walks a schema; a map keyed by a named code set (`propertyNames` an inline copy of its enum)
/// becomes an object with one optional property per code, no others, and `propertyNames`
/// referring to the set: typed clients then see a record keyed by the set.
fn visit(schema: &mut RefOr<Schema>, named_sets: &[(String, Vec<serde_json::Value>)]) {
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(object) => {
            let key_set = object.property_names.as_deref().and_then(|names| match names {
                Schema::Object(names) => names.enum_values.as_ref().and_then(|values| {
                    named_sets
                        .iter()
                        .find(|(_, named)| named == values)
                        .map(|(name, values)| (name.clone(), values.clone()))
                }),
                _ => None,
            });
            if let Some((set, codes)) = key_set {
                let value = match object.additional_properties.as_deref() {
                    Some(AdditionalProperties::RefOr(value)) => Some(value.clone()),
                    _ => None,
                };
                if let Some(value) = value {
                    for code in codes.iter().filter_map(|c| c.as_str()) {
                        object
                            .properties
                            .entry(code.to_owned())
                            .or_insert_with(|| value.clone());
                    }
                    object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
                    object.property_names = None;
                    let extensions = object.extensions.get_or_insert_with(Default::default);
                    extensions.insert(
                        "propertyNames".to_owned(),
                        serde_json::json!({"$ref": format!("#/components/schemas/{set}")}),
                    );
                }
            }
            for property in object.properties.values_mut() {
                visit(property, named_sets);
            }
            if let Some(additional) = object.additional_properties.as_deref_mut()
                && let AdditionalProperties::RefOr(value) = additional
            {
                visit(value, named_sets);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                visit(items, named_sets);
            }
        }
        Schema::OneOf(one_of) => one_of.items.iter_mut().for_each(|item| visit(item, named_sets)),
        Schema::AllOf(all_of) => all_of.items.iter_mut().for_each(|item| visit(item, named_sets)),
        Schema::AnyOf(any_of) => any_of.items.iter_mut().for_each(|item| visit(item, named_sets)),
        _ => {}
    }
}
