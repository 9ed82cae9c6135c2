use crate::i18n::{t, use_i18n};
use crate::{
    api::status::get_system_status,
    model::{BackupDownload, SystemStatus},
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
    let offset = status.utc_offset_minutes;
    view! {
        <BackupDownloads downloads=status.backup_downloads offset/>
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

/// Who downloaded a copy of the whole database, and when: the latest downloads, as many as
/// `Db::status` sends.
#[component]
fn BackupDownloads(downloads: Vec<BackupDownload>, offset: i32) -> impl IntoView {
    let i18n = use_i18n();
    if downloads.is_empty() {
        return view! {
            <p class="muted" data-testid="backup-downloads">{t!(i18n, backup_downloads_none)}</p>
        }
        .into_any();
    }
    view! {
        <table class="backup-downloads" data-testid="backup-downloads">
            <caption>{t!(i18n, backup_downloads)}</caption>
            <thead>
                <tr>
                    <th scope="col">{t!(i18n, when)}</th>
                    <th scope="col">{t!(i18n, who)}</th>
                    <th scope="col">{t!(i18n, size)}</th>
                </tr>
            </thead>
            <tbody>
                {downloads
                    .into_iter()
                    .map(|download| {
                        view! {
                            <tr>
                                <td><SchoolTime at=download.taken_at offset to_the_minute=true/></td>
                                <td>{download.taken_by}</td>
                                <td class="num">{file_size(download.bytes)}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// A file's size for people: whole kilobytes up to a megabyte, then megabytes to one decimal
/// (integer arithmetic: no float formatting code in the bundle for this).
fn file_size(bytes: i64) -> String {
    const KB: i64 = 1024;
    const MB: i64 = 1024 * 1024;
    if bytes < MB {
        format!("{} KB", (bytes + KB - 1) / KB)
    } else {
        let tenths = (bytes * 10 + MB / 2) / MB;
        format!("{}.{} MB", tenths / 10, tenths % 10)
    }
}

#[cfg(test)]
mod tests {
    use super::file_size;

    #[test]
    fn file_sizes_read_in_kilobytes_then_megabytes() {
        assert_eq!(file_size(0), "0 KB");
        assert_eq!(file_size(1), "1 KB");
        assert_eq!(file_size(1024), "1 KB");
        assert_eq!(file_size(1025), "2 KB");
        assert_eq!(file_size(1024 * 1024 - 1), "1024 KB");
        assert_eq!(file_size(1024 * 1024), "1.0 MB");
        assert_eq!(file_size(1_572_864), "1.5 MB");
        assert_eq!(file_size(283 * 1024 * 1024 + 1000), "283.0 MB");
    }
}
