//! Structured output: a task's output schema (JSON Schema), checked when the
//! task is saved and against every answer (docs/structured-output.md).
//!
//! The schema is compiled with the `jsonschema` crate (no remote or file `$ref`:
//! a schema reads nothing). An answer that is not JSON, or not valid against
//! the schema, fails its attempt with class `schema_mismatch`; the next attempt's
//! prompt carries the errors ([`correction`]).

use crate::error::TaskError;
use crate::task::{Attempt, ErrorClass};
use serde_json::Value;

/// Largest output schema accepted, as compact JSON.
pub const MAX_OUTPUT_SCHEMA_BYTES: usize = 64 * 1024;
/// Most validation errors named in an attempt's error.
const MAX_ERRORS: usize = 5;
/// Longest message kept of each validation error, in characters.
const MAX_ERROR_CHARS: usize = 200;
/// Most of an invalid answer repeated to the model in the next prompt, in characters.
const MAX_ANSWER_CHARS: usize = 4000;

/// Refuses a schema that is too large, not an object (or boolean), or that does
/// not compile, in one sentence naming `output_schema`.
pub(crate) fn check_schema(schema: &Value) -> Result<(), TaskError> {
    let size = serde_json::to_vec(schema).map(|v| v.len()).unwrap_or(0);
    if size > MAX_OUTPUT_SCHEMA_BYTES {
        return Err(TaskError::invalid(
            "output_schema",
            format!(
                "the output schema is {size} bytes, over the limit of {MAX_OUTPUT_SCHEMA_BYTES} bytes (64 KiB)"
            ),
        ));
    }
    if !schema.is_object() {
        return Err(TaskError::invalid(
            "output_schema",
            "the output schema must be a JSON object (a JSON Schema)",
        ));
    }
    jsonschema::validator_for(schema).map_err(|e| {
        TaskError::invalid(
            "output_schema",
            format!(
                "the output schema is not a valid JSON Schema: {}",
                shorten(&e.to_string(), MAX_ERROR_CHARS)
            ),
        )
    })?;
    Ok(())
}

/// The answer parsed and checked against `schema`: its value, or one
/// sentence listing what is wrong (the first few errors, each with its path).
pub(crate) fn validate(schema: &Value, output: &str) -> Result<Value, String> {
    let value: Value = serde_json::from_str(strip_fence(output)).map_err(|e| {
        format!("the answer is not valid JSON ({e}); the output schema needs a JSON value")
    })?;
    // A schema that compiled when saved compiles now; an imported or older one
    // that does not is the answer's failure, said as such.
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| format!("the output schema does not compile: {e}"))?;
    let mut errors: Vec<String> = Vec::new();
    let mut total = 0;
    for error in validator.iter_errors(&value) {
        total += 1;
        if errors.len() < MAX_ERRORS {
            let path = error.instance_path().to_string();
            let at = if path.is_empty() {
                "/".to_string()
            } else {
                path
            };
            errors.push(format!(
                "at {at}: {}",
                shorten(&error.to_string(), MAX_ERROR_CHARS)
            ));
        }
    }
    if total == 0 {
        return Ok(value);
    }
    let more = if total > errors.len() {
        format!(" (and {} more)", total - errors.len())
    } else {
        String::new()
    };
    Err(format!(
        "the answer does not match the output schema: {}{more}",
        errors.join("; ")
    ))
}

/// A model asked for JSON in a chat often wraps it in a Markdown code fence;
/// the value inside is the answer.
fn strip_fence(output: &str) -> &str {
    let trimmed = output.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let Some(body) = rest.strip_suffix("```") else {
        return trimmed;
    };
    // Drop the info string (`json`) on the fence's first line.
    match body.split_once('\n') {
        Some((info, inner)) if !info.trim_start().starts_with(['{', '[']) => inner.trim(),
        _ => body.trim(),
    }
}

/// What the next attempt's prompt adds after an answer that failed its schema:
/// the answer (shortened) and what was wrong. `None` when no attempt failed so.
pub(crate) fn correction(history: &[Attempt]) -> Option<String> {
    let failed = history.iter().rev().find(|a| {
        a.failure
            .as_ref()
            .is_some_and(|f| f.class == ErrorClass::SchemaMismatch)
    })?;
    let answer = failed.partial_output.as_deref().unwrap_or("");
    let errors = failed.error.as_deref().unwrap_or("");
    Some(format!(
        "\n\n---\nYour previous answer did not match the required JSON schema.\n\
         Previous answer:\n{}\n\nWhat was wrong: {}\n\
         Answer again with only a JSON value that matches the schema.",
        shorten(answer, MAX_ANSWER_CHARS),
        errors
    ))
}

/// A dotted path (`summary`, `items.0.title`) into a JSON value; a number
/// indexes an array.
pub(crate) fn field<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// A field's value as a prompt receives it: a string as written, anything
/// else as compact JSON.
pub(crate) fn field_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value that matches simple schemas, the same every time: `const`, the first
/// of `enum`, `anyOf`/`oneOf`, every property of an object, one item of an
/// array, the minimum of a number. What the mock provider answers with.
pub(crate) fn example(schema: &Value) -> Value {
    if let Some(v) = schema.get("const") {
        return v.clone();
    }
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(first) = schema.get(key).and_then(|e| e.get(0)) {
            return example(first);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    let min = |key: &str| schema.get(key).and_then(Value::as_f64);
    match ty {
        "object" => Value::Object(
            schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|props| props.iter().map(|(k, v)| (k.clone(), example(v))).collect())
                .unwrap_or_default(),
        ),
        "array" => {
            let n = schema.get("minItems").and_then(Value::as_u64).unwrap_or(1);
            let item = schema.get("items").map(example).unwrap_or(Value::Null);
            Value::Array(vec![item; n.max(1) as usize])
        }
        "integer" => Value::from(min("minimum").map_or(1, |m| m.ceil() as i64)),
        "number" => Value::from(min("minimum").unwrap_or(1.5)),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => {
            let len = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0);
            Value::String(format!("{:x<width$}", "text", width = len as usize))
        }
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "required": ["summary", "score"],
               "properties": {"summary": {"type": "string"}, "score": {"type": "integer"}}})
    }

    #[test]
    fn a_malformed_schema_is_refused_naming_the_field() {
        for bad in [
            json!({"type": "nonsense"}),
            json!({"properties": 3}),
            json!("a string"),
        ] {
            let e = check_schema(&bad).unwrap_err();
            assert!(
                matches!(
                    e,
                    TaskError::Invalid {
                        field: "output_schema",
                        ..
                    }
                ),
                "{bad}: {e}"
            );
        }
        let big = json!({"description": "x".repeat(MAX_OUTPUT_SCHEMA_BYTES)});
        assert!(check_schema(&big)
            .unwrap_err()
            .to_string()
            .contains("64 KiB"));
        check_schema(&schema()).unwrap();
    }

    #[test]
    fn a_remote_ref_is_not_fetched_and_refuses_the_schema() {
        let e = check_schema(&json!({"$ref": "https://example.com/s.json"})).unwrap_err();
        assert!(e.to_string().contains("not a valid JSON Schema"), "{e}");
    }

    #[test]
    fn answers_are_parsed_and_each_error_named_with_its_path() {
        let ok = validate(&schema(), r#"{"summary": "s", "score": 3}"#).unwrap();
        assert_eq!(ok["score"], 3);
        let fenced = validate(
            &schema(),
            "```json\n{\"summary\": \"s\", \"score\": 3}\n```",
        );
        assert_eq!(fenced.unwrap(), ok);
        let e = validate(&schema(), "not json").unwrap_err();
        assert!(e.contains("not valid JSON"), "{e}");
        let e = validate(&schema(), r#"{"summary": 5}"#).unwrap_err();
        assert!(e.contains("at /summary"), "{e}");
        assert!(e.contains("\"score\" is a required property"), "{e}");
    }

    #[test]
    fn the_example_answer_matches_its_schema() {
        let s = json!({"type": "object", "required": ["a", "b", "c", "d"],
            "properties": {"a": {"type": "string", "minLength": 8}, "b": {"enum": ["x", "y"]},
                "c": {"type": "array", "minItems": 2, "items": {"type": "integer", "minimum": 3}},
                "d": {"type": ["null", "number"]}}});
        let v = example(&s);
        assert_eq!(validate(&s, &v.to_string()).unwrap(), v);
    }

    #[test]
    fn dotted_paths_reach_into_objects_and_arrays() {
        let v = json!({"a": {"b": [10, {"c": "deep"}]}});
        assert_eq!(field(&v, "a.b.1.c"), Some(&json!("deep")));
        assert_eq!(field(&v, "a.b.0").map(field_text).as_deref(), Some("10"));
        assert_eq!(field(&v, "a.x"), None);
        assert_eq!(field(&v, "a.b.9"), None);
    }
}
