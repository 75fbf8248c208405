package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// conn is one SQLite connection with its statements prepared once, since
// the filesystem runs the same handful of statements millions of times.
type conn struct {
	c *sql.Conn

	begin, beginRead, commit, rollbackStmt *sql.Stmt
	savepoint, release, rollbackTo         *sql.Stmt // group commit (group.go)
	get, set, add, del, delRange           *sql.Stmt
	fwd, fwdOpen, rev                      *sql.Stmt
}

func (s *Store) newConn(ctx context.Context) (*conn, error) {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", s.path, describe(err))
	}
	return &conn{c: c}, nil
}

// init checks that the file is a HAFS store, switches it to WAL mode and,
// if it is an empty database and create is set, creates the schema. It
// runs once per Open, on the writer. A file that is not a HAFS store is
// refused before anything is written to it.
func (c *conn) init(ctx context.Context, create bool) error {
	empty, err := c.checkTables(ctx)
	if err != nil {
		return err
	}
	if empty && !create {
		return errors.New("not a HAFS metadata store: the database is empty (open it with Create to initialise it)")
	}
	var mode string
	if err := c.c.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("cannot switch to WAL mode (journal_mode is %q)", mode)
	}
	if !empty {
		return nil
	}
	// Check again under the write lock: another process may have created
	// the schema (or something else) since.
	if _, err := c.c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if empty, err = c.checkTables(ctx); err == nil && empty {
		_, err = c.c.ExecContext(ctx, schema)
	}
	if err != nil {
		_, _ = c.c.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	_, err = c.c.ExecContext(context.WithoutCancel(ctx), "COMMIT")
	return err
}

// checkTables reports whether the database has no tables at all; it fails
// if the database has tables but is not a HAFS store: no hafs_store table,
// or tables of its own beside the store's.
func (c *conn) checkTables(ctx context.Context) (empty bool, err error) {
	rows, err := c.c.QueryContext(ctx,
		"SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return false, err
	}
	defer rows.Close()
	var names, other []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return false, err
		}
		names = append(names, name)
		if name != "kv" && name != "hafs_store" {
			other = append(other, name)
		}
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	switch {
	case len(names) == 0:
		return true, nil
	case !slices.Contains(names, "hafs_store"):
		return false, fmt.Errorf("not a HAFS metadata store: it has %d tables (%s) and no hafs_store table",
			len(names), listNames(names))
	case len(other) > 0:
		return false, fmt.Errorf("not a HAFS metadata store: it holds %d tables of its own (%s)",
			len(other), listNames(other))
	}
	return false, nil
}

// listNames quotes the first few table names for an error message (quoted,
// so that a name cannot break it over lines).
func listNames(names []string) string {
	const most = 5
	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == most {
			b.WriteString("...")
			break
		}
		b.WriteString(strconv.Quote(name))
	}
	return b.String()
}

func (c *conn) prepare(ctx context.Context) error {
	stmts := []struct {
		dst **sql.Stmt
		sql string
	}{
		{&c.begin, "BEGIN IMMEDIATE"},
		{&c.beginRead, "BEGIN DEFERRED"},
		{&c.commit, "COMMIT"},
		{&c.rollbackStmt, "ROLLBACK"},
		{&c.savepoint, "SAVEPOINT member"},
		{&c.release, "RELEASE member"},
		{&c.rollbackTo, "ROLLBACK TO member"},
		{&c.get, "SELECT v FROM kv WHERE k = ?"},
		{&c.set, "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v"},
		{&c.add, "INSERT INTO kv (k, v) VALUES (?1, " + addFunc + "(NULL, ?2)) ON CONFLICT (k) DO UPDATE SET v = " + addFunc + "(v, ?2)"},
		{&c.del, "DELETE FROM kv WHERE k = ?"},
		{&c.delRange, "DELETE FROM kv WHERE k >= ? AND k < ?"},
		{&c.fwd, "SELECT k, v FROM kv WHERE k >= ? AND k < ? ORDER BY k LIMIT ?"},
		{&c.fwdOpen, "SELECT k, v FROM kv WHERE k > ? AND k < ? ORDER BY k LIMIT ?"},
		{&c.rev, "SELECT k, v FROM kv WHERE k >= ? AND k < ? ORDER BY k DESC LIMIT ?"},
	}
	for _, st := range stmts {
		p, err := c.c.PrepareContext(ctx, st.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", st.sql, err)
		}
		*st.dst = p
	}
	return nil
}

// rollback ends a transaction that did not commit. It uses a fresh context
// because the caller's may already be done, and an open transaction left
// on the connection would hold SQLite's write lock.
func (c *conn) rollback() {
	_, _ = c.rollbackStmt.ExecContext(context.Background())
}

func (c *conn) close() {
	for _, st := range []*sql.Stmt{c.begin, c.beginRead, c.commit, c.rollbackStmt, c.savepoint, c.release,
		c.rollbackTo, c.get, c.set, c.add, c.del, c.delRange, c.fwd, c.fwdOpen, c.rev} {
		if st != nil {
			st.Close()
		}
	}
	c.c.Close()
}
