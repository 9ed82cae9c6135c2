#!/usr/bin/env python3
"""Which tables and indexes the writer's commits rewrite, read off a copy of the WAL file.

Usage: scripts/wal-frames.py DATABASE WAL_COPY

Copy `<database>-wal` while the server is under load (`cp` is enough: the frames of the
current WAL generation are read, up to the first that is not), stop the server, then run this
on the database and the copy. Every commit appends one frame per page it changed, so the frames
per commit, by the b-tree each page belongs to (SQLite's `dbstat`), say where a commit's disk
writes go. Pages the database gained after the copy are counted as "(new page)".
"""

import collections
import sqlite3
import struct
import sys


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    database, wal = sys.argv[1:]
    owner = dict(sqlite3.connect(database).execute("SELECT pageno, name FROM dbstat"))
    data = open(wal, "rb").read()
    _magic, _version, page_size, _checkpoint, salt1, salt2, _c1, _c2 = struct.unpack(
        ">8I", data[:32]
    )
    frames = commits = 0
    by_btree: collections.Counter[str] = collections.Counter()
    pending: collections.Counter[str] = collections.Counter()  # frames of a commit not yet whole
    offset = 32
    while offset + 24 + page_size <= len(data):
        page, size_after_commit, frame_salt1, frame_salt2 = struct.unpack(
            ">4I", data[offset : offset + 16]
        )
        if (frame_salt1, frame_salt2) != (salt1, salt2):
            break  # a frame of an earlier generation: the current one ends here
        pending[owner.get(page, "(new page)")] += 1
        if size_after_commit:  # the commit's last frame
            commits += 1
            frames += sum(pending.values())
            by_btree.update(pending)
            pending.clear()
        offset += 24 + page_size
    if not commits:
        sys.exit("no committed frame in this copy")
    print(f"page size {page_size}; {frames} frames in {commits} commits: "
          f"{frames / commits:.1f} frames per commit")
    print("| b-tree | frames | share | per commit |\n|---|---|---|---|")
    for name, count in by_btree.most_common():
        print(f"| {name} | {count} | {100 * count / frames:.1f} % | {count / commits:.2f} |")


if __name__ == "__main__":
    main()
