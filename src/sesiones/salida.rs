//! A session's output, kept until read: bounded, so a program that prints
//! without end costs a fixed amount of memory; what did not fit is counted
//! and said in the next read.

/// Bytes of output kept between two reads.
pub const OUTPUT_KEPT: usize = 64 * 1024;

/// The output not yet read.
#[derive(Debug, Default)]
pub struct Salida {
    kept: Vec<u8>,
    /// Dropped since the last read (the newest are dropped: what was kept
    /// reads on in order).
    dropped: u64,
    /// Dropped since the session started.
    dropped_total: u64,
}

impl Salida {
    /// Adds what the program printed.
    pub fn push(&mut self, bytes: &[u8]) {
        let room = OUTPUT_KEPT.saturating_sub(self.kept.len());
        let (fits, rest) = bytes.split_at(room.min(bytes.len()));
        self.kept.extend_from_slice(fits);
        self.dropped += rest.len() as u64;
        self.dropped_total += rest.len() as u64;
    }

    /// Everything kept since the last read, as text (invalid UTF-8 shown
    /// as U+FFFD), with a line saying how much was dropped, if any. A
    /// character cut by the read (its first bytes printed, the rest not yet)
    /// waits for the next read, unless the program has `ended` or bytes
    /// after it were dropped.
    pub fn take(&mut self, ended: bool) -> String {
        let whole = if ended || self.dropped > 0 {
            self.kept.len()
        } else {
            incomplete_tail_start(&self.kept)
        };
        let tail = self.kept.split_off(whole);
        let mut text = String::from_utf8_lossy(&self.kept).into_owned();
        self.kept = tail;
        if self.dropped > 0 {
            text.push_str(&format!(
                "\n[aula: se descartaron {} bytes de salida: se leen a lo más {OUTPUT_KEPT} por lectura]\n",
                self.dropped
            ));
            self.dropped = 0;
        }
        text
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.dropped == 0
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }
}

/// Where a UTF-8 character cut at the end of `bytes` starts (its first
/// one to three bytes), or `bytes.len()` when nothing is cut.
fn incomplete_tail_start(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let start = bytes.len() - back;
        if let Err(err) = std::str::from_utf8(&bytes[start..]) {
            if err.valid_up_to() == 0 && err.error_len().is_none() {
                return start;
            }
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_kept_bounded_and_said() {
        let mut salida = Salida::default();
        for _ in 0..100 {
            salida.push(&[b'x'; 4096]);
        }
        let text = salida.take(false);
        assert!(text.starts_with(&"x".repeat(OUTPUT_KEPT)));
        assert!(text.contains(&format!(
            "se descartaron {} bytes",
            100 * 4096 - OUTPUT_KEPT
        )));
        assert!(salida.is_empty());
        salida.push(b"hola");
        assert_eq!(salida.take(false), "hola");
        assert_eq!(salida.dropped_total(), (100 * 4096 - OUTPUT_KEPT) as u64);
    }

    /// "librería" printed in two pieces cut inside the "í": each read
    /// shows whole characters, none turned into U+FFFD.
    #[test]
    fn a_character_cut_between_two_reads_is_read_whole() {
        let word = "librería €𝄞".as_bytes();
        for cut in 1..word.len() {
            let mut salida = Salida::default();
            salida.push(&word[..cut]);
            let first = salida.take(false);
            salida.push(&word[cut..]);
            let second = salida.take(false);
            assert_eq!(format!("{first}{second}"), "librería €𝄞", "cut at {cut}");
        }
        // The program ended with half a character: shown as U+FFFD.
        let mut salida = Salida::default();
        salida.push(&"í".as_bytes()[..1]);
        assert_eq!(salida.take(false), "");
        assert_eq!(salida.take(true), "\u{fffd}");
    }
}
