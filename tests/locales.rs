//! The interface's two languages stay in step: the same keys, and each text the same
//! `{placeholders}` (which the interface fills in with `str::replace`; a translation that drops
//! or misspells one would show the braces or lose the figure).

use std::collections::{BTreeMap, BTreeSet};

fn locale(name: &str) -> BTreeMap<String, String> {
    let path = format!("{}/locales/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// `{name}` placeholders; leptos_i18n's own `{{ name }}` interpolations are left out.
fn placeholders(text: &str) -> BTreeSet<&str> {
    text.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .filter(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .collect()
}

#[test]
fn both_languages_have_the_same_keys_and_placeholders() {
    let (en, zh) = (locale("en"), locale("zh-CN"));
    assert_eq!(
        en.keys().collect::<Vec<_>>(),
        zh.keys().collect::<Vec<_>>(),
        "keys differ"
    );
    for (key, english) in &en {
        let (mut wanted, chinese) = (placeholders(english), placeholders(&zh[key]));
        // `{detail}` is the server's free text, in English: a translation may leave it out
        // (and say something general in its own language) but not bring in others.
        if !chinese.contains("detail") {
            wanted.remove("detail");
        }
        assert_eq!(wanted, chinese, "{key}: {english:?} against {:?}", zh[key]);
    }
    assert_eq!(
        placeholders(&en["error_rule_min_balance"]),
        BTreeSet::from(["actual", "limit"])
    );
}
