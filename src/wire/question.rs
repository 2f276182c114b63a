//! The three questions of the class, parsed once at the edge.

use std::fmt;

use super::answer::QuestionError;
use super::texts::{is_known_answer, CONTENIDO_ANSWER, RELAYED_PREFIX};

/// A question a student may ask. Anything else is refused with an
/// `Error: ...` answer naming the valid ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Question {
    /// Answered by Docencio itself.
    Contenido,
    /// Answered by Tareo from its list.
    Tarea,
    /// Answered by Tareo after asking Profesor.
    PreguntaDificil,
}

/// Longest piece of an unknown question echoed back in the error, in chars:
/// enough to recognise a typo, never a 64 KiB echo.
const ECHO_LIMIT: usize = 60;

impl Question {
    /// The three questions, in the notebook's order.
    pub const ALL: [Question; 3] = [
        Question::Contenido,
        Question::Tarea,
        Question::PreguntaDificil,
    ];

    /// The question as a student sends it.
    pub fn as_str(self) -> &'static str {
        match self {
            Question::Contenido => "Contenido",
            Question::Tarea => "Tarea",
            Question::PreguntaDificil => "Pregunta Dificil",
        }
    }

    /// Parses a frame body: surrounding whitespace trimmed, case ignored, and
    /// "Difícil" accepted with or without its accent.
    pub fn parse(body: &[u8]) -> Result<Question, QuestionError> {
        if body.is_empty() {
            return Err(QuestionError::EmptyFrame);
        }
        let text = std::str::from_utf8(body).map_err(|err| QuestionError::InvalidUtf8 {
            valid_up_to: err.valid_up_to(),
        })?;
        let trimmed = text.trim();
        let normalized = trimmed.to_lowercase().replace('í', "i");
        match normalized.as_str() {
            "contenido" => Ok(Question::Contenido),
            "tarea" => Ok(Question::Tarea),
            "pregunta dificil" => Ok(Question::PreguntaDificil),
            "" => Err(QuestionError::EmptyFrame),
            _ => Err(QuestionError::UnknownQuestion(echo(trimmed))),
        }
    }

    /// True when `answer` is a correct (non-error) answer to this question as
    /// Docencio gives it. Used by the student to count wrong answers.
    pub fn is_answered_by(self, answer: &str) -> bool {
        match self {
            Question::Contenido => answer == CONTENIDO_ANSWER,
            Question::Tarea | Question::PreguntaDificil => answer
                .strip_prefix(RELAYED_PREFIX)
                .is_some_and(is_known_answer),
        }
    }
}

impl fmt::Display for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn echo(text: &str) -> String {
    match text.char_indices().nth(ECHO_LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_questions_exactly() {
        assert_eq!(Question::parse(b"Contenido"), Ok(Question::Contenido));
        assert_eq!(Question::parse(b"Tarea"), Ok(Question::Tarea));
        assert_eq!(
            Question::parse(b"Pregunta Dificil"),
            Ok(Question::PreguntaDificil)
        );
    }

    #[test]
    fn ignores_surrounding_whitespace_case_and_the_accent() {
        for text in [
            "  Tarea\n",
            "TAREA",
            "tarea",
            "\tPregunta Difícil ",
            "pregunta difícil",
            "PREGUNTA DIFÍCIL",
        ] {
            assert!(Question::parse(text.as_bytes()).is_ok(), "{text:?}");
        }
    }

    #[test]
    fn round_trips_every_question() {
        for q in Question::ALL {
            assert_eq!(Question::parse(q.as_str().as_bytes()), Ok(q));
        }
    }

    #[test]
    fn refuses_unknown_text_and_echoes_it() {
        let refusal = Question::parse(b"Hola").unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "Error: pregunta desconocida: 'Hola' (válidas: Contenido, Tarea, Pregunta Dificil)"
        );
    }

    #[test]
    fn inner_spacing_is_not_normalised() {
        assert!(matches!(
            Question::parse(b"Pregunta  Dificil"),
            Err(QuestionError::UnknownQuestion(_))
        ));
    }

    #[test]
    fn echo_of_a_long_unknown_question_is_bounded() {
        let long = "ñ".repeat(10_000);
        let text = Question::parse(long.as_bytes()).unwrap_err().to_string();
        assert!(text.chars().count() < 150, "{}", text.len());
        assert!(text.starts_with("Error: pregunta desconocida: 'ññ"));
    }

    #[test]
    fn refuses_empty_and_blank_frames() {
        assert_eq!(Question::parse(b""), Err(QuestionError::EmptyFrame));
        assert_eq!(Question::parse(b"  \n"), Err(QuestionError::EmptyFrame));
        assert!(QuestionError::EmptyFrame.to_string().starts_with("Error: "));
    }

    #[test]
    fn refuses_invalid_utf8_saying_where() {
        let refusal = Question::parse(b"Tar\xffea").unwrap_err();
        assert_eq!(refusal, QuestionError::InvalidUtf8 { valid_up_to: 3 });
        assert!(refusal.to_string().starts_with("Error: "));
        assert!(refusal.to_string().contains("UTF-8"));
    }

    #[test]
    fn recognises_correct_answers_per_question() {
        assert!(Question::Contenido.is_answered_by(CONTENIDO_ANSWER));
        assert!(Question::Tarea
            .is_answered_by("Respuesta del Tareo o Profesor: Actualizamos los tests"));
        assert!(!Question::Tarea.is_answered_by("Actualizamos los tests"));
        assert!(!Question::Contenido
            .is_answered_by("Respuesta del Tareo o Profesor: Actualizamos los tests"));
        assert!(!Question::PreguntaDificil.is_answered_by("Error: Tareo no está disponible"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Any frame body gets a question or a refusal, never a panic; a
        /// refusal is an `Error: ` text of bounded length.
        #[test]
        fn any_body_is_a_question_or_a_bounded_error(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            match Question::parse(&body) {
                Ok(question) => {
                    let text = String::from_utf8(body).unwrap();
                    let normalized = text.trim().to_lowercase().replace('í', "i");
                    proptest::prop_assert_eq!(normalized, question.as_str().to_lowercase());
                }
                Err(refusal) => {
                    let text = refusal.to_string();
                    proptest::prop_assert!(text.starts_with("Error: "), "{}", text);
                    proptest::prop_assert!(text.chars().count() < 200, "{}", text);
                }
            }
        }

        /// Every spelling the contract allows is recognised.
        #[test]
        fn any_allowed_spelling_is_recognised(
            which in 0usize..3,
            upper in proptest::collection::vec(proptest::prelude::any::<bool>(), 16),
            accent: bool,
            before in "[ \t\r\n]{0,3}",
            after in "[ \t\r\n]{0,3}",
        ) {
            let question = Question::ALL[which];
            let spelled: String = question
                .as_str()
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            let spelled = if accent { spelled.replace('i', "í").replace('I', "Í") } else { spelled };
            let body = format!("{before}{spelled}{after}");
            proptest::prop_assert_eq!(Question::parse(body.as_bytes()), Ok(question));
        }
    }
}
