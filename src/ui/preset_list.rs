//! An editable list of award presets (reason and points per line), used by a class's presets
//! editor on the board and by the school's presets on the rules page.

use crate::i18n::{t, use_i18n};
use crate::{
    error::{AppError, Problem},
    model::{MAX_PRESETS, Preset, validate_presets},
};
use leptos::prelude::*;

/// One editable line; `key` keeps each line's inputs in place while others are removed.
#[derive(Clone, Copy)]
struct Line {
    key: usize,
    reason: RwSignal<String>,
    points: RwSignal<String>,
}

/// The lines being edited.
#[derive(Clone, Copy)]
pub struct PresetLines {
    lines: RwSignal<Vec<Line>>,
    next_key: StoredValue<usize>,
}

impl PresetLines {
    pub fn new(presets: &[Preset]) -> Self {
        let lines = Self {
            lines: RwSignal::new(vec![]),
            next_key: StoredValue::new(0),
        };
        lines.reset(presets);
        lines
    }

    fn line(&self, reason: String, points: String) -> Line {
        let key = self.next_key.get_value();
        self.next_key.set_value(key + 1);
        Line {
            key,
            reason: RwSignal::new(reason),
            points: RwSignal::new(points),
        }
    }

    /// Starts over from `presets`.
    pub fn reset(&self, presets: &[Preset]) {
        let lines = presets
            .iter()
            .map(|p| self.line(p.reason.clone(), p.points.to_string()))
            .collect();
        self.lines.set(lines);
    }

    /// The lines as presets, checked like the server checks them; errors name the line
    /// (`presets[1].points`).
    pub fn presets(&self) -> Result<Vec<Preset>, AppError> {
        let presets = self.lines.with_untracked(|lines| {
            lines
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    let points =
                        line.points
                            .get_untracked()
                            .trim()
                            .parse::<i64>()
                            .map_err(|_| {
                                AppError::invalid(
                                    format!("presets[{i}].points"),
                                    Problem::NotWholeNumber,
                                )
                            })?;
                    Ok(Preset {
                        reason: line.reason.get_untracked(),
                        points,
                    })
                })
                .collect::<Result<Vec<_>, AppError>>()
        })?;
        validate_presets(&presets)
    }
}

/// The inputs for every line, with Remove per line and Add below.
#[component]
pub fn PresetListEditor(lines: PresetLines) -> impl IntoView {
    let i18n = use_i18n();
    let list = lines.lines;
    view! {
        <ol class="preset-lines">
            <For
                each=move || list.get()
                key=|line| line.key
                children=move |line| {
                    // Position in the list, for the labels; it moves as lines go.
                    let number = move || {
                        list.with(|l| l.iter().position(|x| x.key == line.key).map_or(0, |i| i + 1))
                    };
                    view! {
                        <li class="preset-line" data-testid="preset-line">
                            <label>
                                <span class="visually-hidden">{t!(i18n, preset_reason)} " " {number}</span>
                                <input
                                    type="text"
                                    data-testid="preset-reason"
                                    maxlength="40"
                                    prop:value=move || line.reason.get()
                                    on:input=move |ev| line.reason.set(event_target_value(&ev))
                                />
                            </label>
                            <label>
                                <span class="visually-hidden">{t!(i18n, preset_points)} " " {number}</span>
                                <input
                                    type="number"
                                    class="points-input"
                                    data-testid="preset-points"
                                    prop:value=move || line.points.get()
                                    on:input=move |ev| line.points.set(event_target_value(&ev))
                                />
                            </label>
                            <button
                                type="button"
                                data-testid="remove-preset"
                                on:click=move |_| list.update(|l| l.retain(|other| other.key != line.key))
                            >
                                {t!(i18n, remove)}
                                <span class="visually-hidden">" " {number}</span>
                            </button>
                        </li>
                    }
                }
            />
        </ol>
        <button
            type="button"
            data-testid="add-preset"
            disabled=move || list.with(|l| l.len() >= MAX_PRESETS)
            on:click=move |_| {
                let line = lines.line(String::new(), "1".into());
                list.update(|l| l.push(line));
            }
        >
            {t!(i18n, add_preset)}
        </button>
    }
}
