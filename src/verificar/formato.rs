//! The report as a person reads it (a table, coloured on a terminal), as
//! JSON, as JUnit XML (CI and classroom autograders) and as Gradescope's
//! `results.json` (a score per section).

use std::collections::BTreeMap;

use serde_json::json;

use super::caso::{Caso, Reporte, Veredicto};

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Formato {
    /// Una tabla legible
    Texto,
    /// Un objeto JSON
    Json,
    /// JUnit XML
    Junit,
    /// El results.json de Gradescope (puntaje por sección)
    Gradescope,
}

pub fn render(informe: &Reporte, formato: Formato, colour: bool) -> String {
    match formato {
        Formato::Texto => texto(informe, colour),
        Formato::Json => serde_json::to_string_pretty(informe).unwrap_or_default(),
        Formato::Junit => junit(informe),
        Formato::Gradescope => gradescope(informe),
    }
}

/// Width of the case names' column (the longest name fits).
const NAME_WIDTH: usize = 72;

fn texto(informe: &Reporte, colour: bool) -> String {
    let mut out = texto_cabecera(&informe.rol, &informe.objetivo);
    let mut section = String::new();
    for caso in &informe.casos {
        out.push_str(&texto_caso(caso, colour, &mut section));
    }
    out.push_str(&texto_pie(informe));
    out
}

/// The table's first lines.
pub fn texto_cabecera(rol: &str, objetivo: &str) -> String {
    format!(
        "Verificación de {rol} en {}\n\n",
        super::sonda::show(objetivo.as_bytes())
    )
}

/// A case's line (and its section's title when `section` changes).
pub fn texto_caso(caso: &Caso, colour: bool, section: &mut String) -> String {
    let mut out = String::new();
    if caso.seccion != *section {
        section.clone_from(&caso.seccion);
        out.push_str(&format!("{section}\n"));
    }
    let label = caso.veredicto.label();
    let painted = if colour {
        let code = match caso.veredicto {
            Veredicto::Pasa => "32",
            Veredicto::Observacion(_) => "33",
            Veredicto::Falla(_) => "31;1",
            Veredicto::NoAplica(_) => "2",
        };
        format!("\u{1b}[{code}m{label}\u{1b}[0m")
    } else {
        label.to_owned()
    };
    out.push_str(&format!(
        "  {:<5} {:<NAME_WIDTH$} {painted}\n",
        caso.id, caso.nombre,
    ));
    let detail = caso.veredicto.detail();
    if !detail.is_empty() {
        out.push_str(&format!("        {detail}\n"));
    }
    out
}

/// The table's last line: how many passed.
pub fn texto_pie(informe: &Reporte) -> String {
    let passed = informe
        .casos
        .iter()
        .filter(|caso| !caso.veredicto.is_failure())
        .count();
    format!(
        "\n{passed} de {} casos sin falla; {} fallan.\n",
        informe.casos.len(),
        informe.failures()
    )
}

fn xml(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            c if (c.is_control() && c != '\n') || !allowed_in_xml(c) => {
                format!("\\u{{{:x}}}", c as u32)
            }
            c => c.to_string(),
        })
        .collect()
}

/// The characters XML 1.0 allows in a document (U+FFFE, U+FFFF and the
/// surrogates are not among them: a target may send them).
fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn junit(informe: &Reporte) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuite name=\"aula verificar {}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">\n",
        xml(&informe.rol),
        informe.casos.len(),
        informe.failures(),
        informe.casos.iter().filter(|caso| matches!(caso.veredicto, Veredicto::NoAplica(_))).count(),
        informe.elapsed().as_secs_f64()
    ));
    for caso in &informe.casos {
        out.push_str(&format!(
            "  <testcase classname=\"{}.{}\" name=\"{} {}\" time=\"{:.3}\">",
            xml(&informe.rol),
            xml(&caso.seccion),
            xml(&caso.id),
            xml(&caso.nombre),
            caso.ms as f64 / 1000.0
        ));
        match &caso.veredicto {
            Veredicto::Falla(detail) => {
                out.push_str(&format!("<failure message=\"{}\"/>", xml(detail)))
            }
            Veredicto::NoAplica(detail) => {
                out.push_str(&format!("<skipped message=\"{}\"/>", xml(detail)))
            }
            Veredicto::Observacion(detail) => {
                out.push_str(&format!("<system-out>{}</system-out>", xml(detail)))
            }
            Veredicto::Pasa => {}
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("</testsuite>\n");
    out
}

fn gradescope(informe: &Reporte) -> String {
    let mut sections: BTreeMap<&str, (u32, u32, Vec<String>)> = BTreeMap::new();
    for caso in &informe.casos {
        let entry = sections.entry(&caso.seccion).or_default();
        if matches!(caso.veredicto, Veredicto::NoAplica(_)) {
            continue;
        }
        entry.1 += 1;
        if caso.veredicto.is_failure() {
            entry.2.push(format!(
                "{} {}: {}",
                caso.id,
                caso.nombre,
                caso.veredicto.detail()
            ));
        } else {
            entry.0 += 1;
        }
    }
    let tests: Vec<_> = sections
        .iter()
        .map(|(name, (passed, total, failures))| {
            json!({
                "name": name,
                "score": passed,
                "max_score": total,
                "output": failures.join("\n"),
            })
        })
        .collect();
    let score: u32 = sections.values().map(|(passed, _, _)| passed).sum();
    serde_json::to_string_pretty(&json!({"score": score, "tests": tests})).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever a target sent, the JUnit report stays well-formed: markup
    /// characters escaped, characters XML refuses written as `\u{...}`.
    #[test]
    fn junit_escapes_what_a_target_sent() {
        let mut informe = Reporte::new("docencio", "127.0.0.1:4446");
        informe.casos.push(Caso {
            id: "1.1".into(),
            seccion: "1 marco".into(),
            nombre: "Contenido".into(),
            veredicto: Veredicto::Falla("llegó \"<b>&]]>\u{ffff}\u{fffe}\u{1b}\"".into()),
            ms: 3,
        });
        let junit = junit(&informe);
        assert!(
            junit.contains("llegó &quot;&lt;b&gt;&amp;]]&gt;\\u{ffff}\\u{fffe}\\u{1b}&quot;"),
            "{junit}"
        );
        assert!(junit.chars().all(allowed_in_xml), "{junit}");
    }
}
