//! Record ids: 15 lowercase letters and digits, the old system's format.
//!
//! New ids start with the time (milliseconds since the Unix epoch in base 36, 9 characters,
//! good until the year 5188) and end with 6 random characters. Ids made later sort later, so
//! every index on an id column grows at its right edge: a group commit touches one or two
//! index pages instead of one random page per row, which is most of the disk a commit writes.
//! The digits sort before the letters in this alphabet, as they do in ASCII and in SQLite's
//! text order, so the id's text order is its time order.

use crate::model::ID_LEN;
use rand::Rng;

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const TIME_CHARS: usize = 9;

fn base36(mut value: u64, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 36) as usize];
        value /= 36;
    }
    String::from_utf8(out).expect("ASCII digits and letters")
}

pub fn new_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut rng = rand::rng();
    let mut id = base36(millis, TIME_CHARS);
    id.extend((TIME_CHARS..ID_LEN).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char));
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::validate_id;

    #[test]
    fn new_ids_are_valid_distinct_and_sort_by_time() {
        let ids: Vec<String> = (0..10_000).map(|_| new_id()).collect();
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        for id in ids.iter().take(100) {
            validate_id("id", id).unwrap();
        }
        let first = ids[0].clone();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(new_id() > first, "a later id sorts after an earlier one");
        assert_eq!(base36(35, 3), "00z");
        assert_eq!(base36(36, 3), "010");
        // Digits sort before letters, so text order is numeric order.
        assert!(base36(9, 2) < base36(10, 2));
    }
}
