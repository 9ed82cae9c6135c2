use crate::i18n::{t, use_i18n};
use crate::{
    api::status::get_system_status,
    model::SystemStatus,
    ui::time::{SchoolTime, utc_offset_label},
};
use leptos::prelude::*;

/// Shows what the server reads from SQLite; {t!(i18n, refresh)} asks again through a server function.
#[component]
pub fn StatusPage() -> impl IntoView {
    let i18n = use_i18n();
    let refreshes = RwSignal::new(0u32);
    let status = crate::ui::load(move || refreshes.get(), |_| get_system_status());

    view! {
        <super::admin::AdminTabs/>
        <section class="status" aria-labelledby="status-title">
            <h1 id="status-title">{t!(i18n, status_title)}</h1>
            <button type="button" data-testid="refresh" on:click=move |_| refreshes.update(|n| *n += 1)>
                {t!(i18n, refresh)}
            </button>
            // The REST API's backup as a file; the session cookie signs it in. `download`
            // keeps the router from taking the click.
            <p class="backup">
                <a download="" href="/api/backup" data-testid="download-backup">
                    {t!(i18n, download_backup)}
                </a>
                " "
                <span class="muted">{t!(i18n, download_backup_note)}</span>
            </p>
            <Transition fallback=move || view! { <p>{t!(i18n, loading)}</p> }>
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
    let i18n = use_i18n();
    view! {
        <dl class="status-facts">
            <dt>{t!(i18n, version)}</dt>
            <dd>{status.version}</dd>
            <dt>{t!(i18n, database)}</dt>
            <dd data-testid="database-path">{status.database_path}</dd>
            <dt>"SQLite"</dt>
            <dd>{status.sqlite_version} " (" {status.journal_mode} ")"</dd>
            <dt>{t!(i18n, migrations_applied)}</dt>
            <dd data-testid="migrations">{status.applied_migrations}</dd>
            <dt>{t!(i18n, checked_at)}</dt>
            <dd data-testid="checked-at">
                <SchoolTime at=status.checked_at offset=status.utc_offset_minutes/>
                {utc_offset_label(status.utc_offset_minutes).map(|zone| format!(" ({zone})"))}
            </dd>
        </dl>
        <table class="table-rows">
            <caption>{t!(i18n, rows_per_table)}</caption>
            <thead>
                <tr>
                    <th scope="col">{t!(i18n, table)}</th>
                    <th scope="col">{t!(i18n, rows)}</th>
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
