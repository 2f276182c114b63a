//! Parse, don't validate: a student's name and a chat text are checked once,
//! where they come in, and from then on travel as types that cannot hold a
//! value the checks refused.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{MensajeError, MAX_NOMBRE, MAX_TEXTO};

/// A name in the sala: trimmed, 1 to [`MAX_NOMBRE`] characters, letters,
/// digits, spaces and `._-` only (nothing that could pass for another
/// student's name through invisible or control characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Nombre(String);

impl Nombre {
    pub fn parse(nombre: &str) -> Result<Nombre, MensajeError> {
        let nombre = nombre.trim();
        if nombre.is_empty() {
            return Err(MensajeError::EmptyName);
        }
        if nombre.chars().count() > MAX_NOMBRE {
            return Err(MensajeError::NameTooLong);
        }
        let allowed = |c: char| c.is_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-');
        if !nombre.chars().all(allowed) || !nombre.chars().any(char::is_alphanumeric) {
            return Err(MensajeError::NameNotPrintable);
        }
        Ok(Nombre(nombre.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form under which two names are the same name.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A chat line's text: trimmed, 1 to [`MAX_TEXTO`] characters, control
/// characters (but none of the text) escaped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TextoChat(String);

impl TextoChat {
    pub fn parse(texto: &str) -> Result<TextoChat, MensajeError> {
        let texto = texto.trim();
        if texto.is_empty() {
            return Err(MensajeError::EmptyText);
        }
        // Measured as kept (escaped): Docencio and Profesor then agree on
        // every line, and escaping it again changes nothing, so a text read
        // back from the wire parses to itself.
        let texto = crate::telemetry::escape_controls(texto);
        if texto.chars().count() > MAX_TEXTO {
            return Err(MensajeError::TextTooLong);
        }
        Ok(TextoChat(texto))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! text_newtype {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = MensajeError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                $name::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_newtype!(Nombre);
text_newtype!(TextoChat);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_and_only_printable() {
        assert_eq!(Nombre::parse(" Ana ").unwrap().as_str(), "Ana");
        assert_eq!(Nombre::parse(" ").unwrap_err(), MensajeError::EmptyName);
        for bad in ["Ana\u{202e}", "Ana\nB", "\u{200b}Ana", "a/b", "..", ". -"] {
            assert_eq!(
                Nombre::parse(bad).unwrap_err(),
                MensajeError::NameNotPrintable,
                "{bad:?}"
            );
        }
        let read: Result<Nombre, _> = serde_json::from_str("\"a/b\"");
        assert!(read.is_err(), "an invalid name cannot be read either");
    }

    #[test]
    fn a_text_read_back_parses_to_itself() {
        let texto = TextoChat::parse(" hola\u{1b}[31m ").unwrap();
        assert_eq!(texto.as_str(), "hola\\u{1b}[31m");
        assert_eq!(TextoChat::parse(texto.as_str()).unwrap(), texto);
        assert_eq!(TextoChat::parse("  ").unwrap_err(), MensajeError::EmptyText);
    }
}
