//! Process-wide SQLite settings, in a test binary of their own: they apply only before SQLite
//! is first used in the process, and every other test binary has used it by then.
#![cfg(feature = "ssr")]

#[test]
fn sqlite_keeps_no_memory_statistics_for_the_server() {
    // SAFETY: this binary's only test, and its first SQLite use.
    unsafe { classpoints::db::configure_sqlite_for_process() };
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
         INSERT INTO t (v) SELECT hex(randomblob(64)) FROM n;",
    )
    .unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 1000);
    // With statistics on (SQLite's default), this counts every byte SQLite holds.
    // SAFETY: a plain read of a global counter.
    let counted = unsafe { rusqlite::ffi::sqlite3_memory_used() };
    assert_eq!(counted, 0, "SQLite still counts its memory");
}
