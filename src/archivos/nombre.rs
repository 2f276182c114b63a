//! Which file names the class accepts: flat names only, checked the same
//! way by Profesor (over HTTP), Docencio (over frames) and the student
//! (before it writes a file it was sent).
//!
//! The rule is an allow-list, not a list of known tricks: letters and
//! digits of any script, and `. _ - + ( ) ,` and inner spaces. So no
//! separator of any kind (`/`, `\`, the Unicode look-alikes such as
//! U+2215 or U+FF0F), no `%` (a name is never decoded twice), no control,
//! format or bidirectional characters, no `..`, nothing hidden (a leading
//! `.`), nothing empty or longer than [`MAX_NOMBRE`]. A name is compared
//! as it is: `Tarea.txt` and `tarea.txt` are two files.

/// Longest file name, in characters.
pub const MAX_NOMBRE: usize = 128;

/// Longest file name, in bytes (UTF-8): under the 255 of Linux
/// filesystems with room for the `.parte` a download is written as.
pub const MAX_NOMBRE_BYTES: usize = 240;

/// Why a file name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NombreError {
    #[error("el nombre del archivo está vacío")]
    Empty,
    #[error(
        "el nombre del archivo tiene más de {MAX_NOMBRE} caracteres o de {MAX_NOMBRE_BYTES} bytes"
    )]
    TooLong,
    #[error("el nombre del archivo no puede empezar con '.' ni tener '..'")]
    Dots,
    #[error("el nombre del archivo no puede empezar ni terminar con espacio")]
    Spaces,
    #[error("el nombre del archivo tiene un carácter no permitido ({0:?}): solo letras, dígitos, espacios y . _ - + ( ) ,")]
    Character(char),
}

/// `nombre` if it is a flat name the class accepts.
pub fn check_nombre_archivo(nombre: &str) -> Result<&str, NombreError> {
    if nombre.is_empty() {
        return Err(NombreError::Empty);
    }
    if nombre.chars().count() > MAX_NOMBRE || nombre.len() > MAX_NOMBRE_BYTES {
        return Err(NombreError::TooLong);
    }
    if let Some(bad) = nombre.chars().find(|&c| !allowed(c)) {
        return Err(NombreError::Character(bad));
    }
    if nombre.starts_with('.') || nombre.contains("..") {
        return Err(NombreError::Dots);
    }
    if nombre.starts_with(' ') || nombre.ends_with(' ') {
        return Err(NombreError::Spaces);
    }
    Ok(nombre)
}

fn allowed(c: char) -> bool {
    (c.is_alphanumeric() && !INVISIBLE_LETTERS.contains(&c))
        || matches!(c, '.' | '_' | '-' | '+' | '(' | ')' | ',' | ' ')
}

/// Letters (to Unicode) that show as nothing: a name with one would look
/// like another name.
const INVISIBLE_LETTERS: &[char] = &['\u{115f}', '\u{1160}', '\u{3164}', '\u{ffa0}'];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_names_pass() {
        for ok in [
            "tarea1.py",
            "Guía de ejercicios (v2).pdf",
            "a",
            "datos_2024-1.csv",
            "名前.txt",
            "x.tar.gz",
        ] {
            assert_eq!(check_nombre_archivo(ok), Ok(ok), "{ok}");
        }
    }

    #[test]
    fn anything_that_could_leave_the_folder_is_refused() {
        for bad in [
            "",
            ".",
            "..",
            "../secreto",
            "a/../../etc/passwd",
            "/etc/passwd",
            "sub/archivo",
            "a\\b",
            "..\\..\\win.ini",
            ".bashrc",
            ".oculto",
            "a..b",
            "%2e%2e%2fetc",
            "..%2f",
            "a\u{2215}b",
            "a\u{ff0f}b",
            "a\u{2044}b",
            "a\u{ff3c}b",
            "a\u{202e}txt.exe",
            "a\u{200b}b",
            "a\0b",
            "a\nb",
            " a",
            "a ",
            "C:archivo",
            "~root",
            "a\u{3164}b",
            "a\u{115f}",
            "\u{ffa0}x",
        ] {
            assert!(check_nombre_archivo(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            check_nombre_archivo(&"x".repeat(MAX_NOMBRE + 1)),
            Err(NombreError::TooLong)
        );
        assert!(check_nombre_archivo(&"é".repeat(MAX_NOMBRE_BYTES / 2)).is_ok());
        assert_eq!(
            check_nombre_archivo(&"ñ".repeat(MAX_NOMBRE)),
            Err(NombreError::TooLong),
            "128 characters of 2 bytes: over the filesystem's limit"
        );
    }
}
