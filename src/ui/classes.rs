use crate::{
    api::board::my_classes,
    i18n::{t, t_string, use_i18n},
};
use leptos::prelude::*;

/// The signed-in teacher's classes; sends visitors who are not signed in to the sign-in page.
#[component]
pub fn ClassesPage() -> impl IntoView {
    let i18n = use_i18n();
    let classes = crate::ui::load(|| (), |_| my_classes());
    view! {
        <section aria-labelledby="classes-title">
            <h1 id="classes-title">{t!(i18n, my_classes)}</h1>
            <Transition fallback=move || view! { <p>{t!(i18n, loading)}</p> }>
                {move || {
                    classes
                        .get()
                        .map(|result| match result {
                            Err(e) => super::load_failed(e),
                            Ok(list) if list.is_empty() => {
                                view! { <p>{t!(i18n, no_classes)}</p> }.into_any()
                            }
                            Ok(list) => {
                                view! {
                                    <ul class="class-list">
                                        {list
                                            .into_iter()
                                            .map(|c| {
                                                view! {
                                                    <li>
                                                        <a href=format!("/class/{}", c.id) class="class-link">
                                                            <span class="class-name">{c.name}</span>
                                                            <span class="muted">
                                                                {t_string!(i18n, n_students).replace("{n}", &c.students.to_string())}
                                                            </span>
                                                        </a>
                                                        // The REST API's list as a file; the session cookie signs it in.
                                                        // `download` keeps the router from taking the click.
                                                        <a
                                                            download=""
                                                            class="class-download"
                                                            data-testid="download-points"
                                                            href=format!("/api/students?class_id={}&format=csv", c.id)
                                                        >
                                                            {t!(i18n, download_points)}
                                                        </a>
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </section>
    }
}
