use crate::{api::status::get_system_status, model::SystemStatus};
use leptos::prelude::*;

/// Shows what the server reads from SQLite; "Refresh" asks again through a server function.
#[component]
pub fn StatusPage() -> impl IntoView {
    let refreshes = RwSignal::new(0u32);
    let status = crate::ui::load(move || refreshes.get(), |_| get_system_status());

    view! {
        <super::admin::AdminTabs/>
        <section class="status" aria-labelledby="status-title">
            <h1 id="status-title">"System status"</h1>
            <button type="button" data-testid="refresh" on:click=move |_| refreshes.update(|n| *n += 1)>
                "Refresh"
            </button>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || {
                    status
                        .get()
                        .map(|result| match result {
                            Ok(status) => view! { <StatusTable status/> }.into_any(),
                            Err(error) => super::load_failed(error),
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn StatusTable(status: SystemStatus) -> impl IntoView {
    view! {
        <dl class="status-facts">
            <dt>"Version"</dt>
            <dd>{status.version}</dd>
            <dt>"Database"</dt>
            <dd data-testid="database-path">{status.database_path}</dd>
            <dt>"SQLite"</dt>
            <dd>{status.sqlite_version} " (" {status.journal_mode} ")"</dd>
            <dt>"Migrations applied"</dt>
            <dd data-testid="migrations">{status.applied_migrations}</dd>
            <dt>"Checked at"</dt>
            <dd data-testid="checked-at">{status.checked_at}</dd>
        </dl>
        <table class="table-rows">
            <caption>"Rows per table"</caption>
            <thead>
                <tr>
                    <th scope="col">"Table"</th>
                    <th scope="col">"Rows"</th>
                </tr>
            </thead>
            <tbody>
                {status
                    .tables
                    .into_iter()
                    .map(|t| {
                        let name = t.table.clone();
                        view! {
                            <tr data-table=name>
                                <td>{t.table}</td>
                                <td class="num">{t.rows}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
