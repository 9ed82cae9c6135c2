//! A modal dialog that keyboard and screen-reader users can work: focus moves into it when it
//! opens, Tab and Shift+Tab stay inside it, Escape or the backdrop closes it, and focus goes
//! back to whatever opened it.

use leptos::{html, prelude::*};

/// What can take focus inside a dialog, in document order.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const FOCUSABLE: &str = "button:not([disabled]), [href], input:not([disabled]), \
     select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

#[component]
pub fn Dialog(
    /// Id of the element that names the dialog (its heading).
    labelled_by: &'static str,
    /// Called on Escape and on a click on the backdrop.
    #[prop(into)]
    on_close: Callback<()>,
    /// Extra classes for the panel.
    #[prop(optional)]
    class: &'static str,
    /// `data-testid` of the panel.
    #[prop(optional)]
    testid: &'static str,
    children: Children,
) -> impl IntoView {
    let panel = NodeRef::<html::Div>::new();
    focus::hold(panel);
    let keydown = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "Escape" => {
            ev.prevent_default();
            on_close.run(());
        }
        "Tab" => focus::wrap_tab(panel, &ev),
        _ => {}
    };
    view! {
        <div class="sheet-backdrop" on:click=move |_| on_close.run(())></div>
        <div
            class=format!("sheet {class}")
            role="dialog"
            aria-modal="true"
            aria-labelledby=labelled_by
            data-testid=(!testid.is_empty()).then_some(testid)
            node_ref=panel
            on:keydown=keydown
        >
            {children()}
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod focus {
    use super::FOCUSABLE;
    use leptos::{html, prelude::*};
    use wasm_bindgen::JsCast;
    use web_sys::HtmlElement;

    fn focusables(panel: &web_sys::Element) -> Vec<HtmlElement> {
        let Ok(list) = panel.query_selector_all(FOCUSABLE) else {
            return vec![];
        };
        (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|node| node.dyn_into::<HtmlElement>().ok())
            .collect()
    }

    /// Moves focus to the panel's first control once it is in the page, and back to the
    /// element that had focus before when the dialog goes away.
    pub fn hold(panel: NodeRef<html::Div>) {
        let opener = document()
            .active_element()
            .and_then(|e| e.dyn_into::<HtmlElement>().ok());
        Effect::new(move |_| {
            if let Some(first) = panel.get().and_then(|p| focusables(&p).into_iter().next()) {
                let _ = first.focus();
            }
        });
        let opener = StoredValue::new_local(opener);
        on_cleanup(move || {
            opener.with_value(|opener| {
                if let Some(opener) = opener.as_ref().filter(|o| o.is_connected()) {
                    let _ = opener.focus();
                }
            })
        });
    }

    /// Tab from the last control goes to the first, Shift+Tab from the first to the last.
    pub fn wrap_tab(panel: NodeRef<html::Div>, ev: &web_sys::KeyboardEvent) {
        let Some(panel) = panel.get_untracked() else {
            return;
        };
        let controls = focusables(&panel);
        let (Some(first), Some(last)) = (controls.first(), controls.last()) else {
            return;
        };
        let active = document().active_element();
        let at = |el: &HtmlElement| active.as_ref() == Some(el.unchecked_ref());
        let inside = active.as_ref().is_some_and(|a| panel.contains(Some(a)));
        let target = if ev.shift_key() && (at(first) || !inside) {
            Some(last)
        } else if !ev.shift_key() && (at(last) || !inside) {
            Some(first)
        } else {
            None
        };
        if let Some(target) = target {
            ev.prevent_default();
            let _ = target.focus();
        }
    }
}

/// Server rendering has no focus to manage.
#[cfg(not(feature = "hydrate"))]
mod focus {
    use leptos::{html, prelude::NodeRef};

    pub fn hold(_: NodeRef<html::Div>) {}

    pub fn wrap_tab(_: NodeRef<html::Div>, _: &leptos::ev::KeyboardEvent) {}
}
