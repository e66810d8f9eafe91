//! `{{name}}` substitution in scenario values. A string that is exactly `{{name}}` becomes the
//! variable's JSON value (keeping numbers numbers); elsewhere the value is spliced in as text.
//! Names may be dotted paths into a variable (`{{note.id}}`).

use serde_json::{Map, Value};

use crate::matcher::select;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown variable {0:?}")]
    Unknown(String),
    #[error("unclosed `{{{{` in {0:?}")]
    Unclosed(String),
}

/// Variables visible to a scenario.
#[derive(Debug, Clone, Default)]
pub struct Vars(Map<String, Value>);

impl Vars {
    pub fn set(&mut self, name: impl Into<String>, value: Value) {
        self.0.insert(name.into(), value);
    }

    pub fn get(&self, path: &str) -> Option<&Value> {
        let (head, rest) = path.split_once('.').unwrap_or((path, ""));
        let root = self.0.get(head)?;
        if rest.is_empty() {
            Some(root)
        } else {
            select(root, rest)
        }
    }

    /// Renders a string.
    pub fn text(&self, template: &str) -> Result<String, TemplateError> {
        match self.value(&Value::String(template.to_owned()))? {
            Value::String(text) => Ok(text),
            other => Ok(other.to_string()),
        }
    }

    /// Renders every string inside `value`.
    pub fn value(&self, value: &Value) -> Result<Value, TemplateError> {
        Ok(match value {
            Value::String(text) => self.string(text)?,
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.value(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((self.text(k)?, self.value(v)?)))
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => other.clone(),
        })
    }

    fn string(&self, text: &str) -> Result<Value, TemplateError> {
        let trimmed = text.trim();
        if let Some(name) = trimmed
            .strip_prefix("{{")
            .and_then(|t| t.strip_suffix("}}"))
            && !name.contains("{{")
            && !name.contains("}}")
        {
            let name = name.trim();
            return self
                .get(name)
                .cloned()
                .ok_or_else(|| TemplateError::Unknown(name.to_owned()));
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| TemplateError::Unclosed(text.to_owned()))?;
            let name = after[..end].trim();
            match self.get(name) {
                Some(Value::String(s)) => out.push_str(s),
                Some(other) => out.push_str(&other.to_string()),
                None => return Err(TemplateError::Unknown(name.to_owned())),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(Value::String(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_string_keeps_the_type_and_splices_elsewhere() {
        let mut vars = Vars::default();
        vars.set("n", json!(42));
        vars.set("note", json!({"id": "n-1"}));
        assert_eq!(vars.value(&json!("{{n}}")), Ok(json!(42)));
        assert_eq!(
            vars.value(&json!("id={{note.id}}, n={{ n }}")),
            Ok(json!("id=n-1, n=42"))
        );
        assert_eq!(
            vars.value(&json!({"k": ["{{note.id}}"]})),
            Ok(json!({"k": ["n-1"]}))
        );
        assert_eq!(
            vars.value(&json!("{{missing}}")),
            Err(TemplateError::Unknown("missing".into()))
        );
        assert!(matches!(
            vars.value(&json!("a {{b")),
            Err(TemplateError::Unclosed(_))
        ));
    }
}
