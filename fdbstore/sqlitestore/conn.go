package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
)

// conn is one SQLite connection with its statements prepared once, since
// the filesystem runs the same handful of statements millions of times.
type conn struct {
	c *sql.Conn

	begin, beginRead, commit, rollbackStmt *sql.Stmt
	get, set, del, delRange                *sql.Stmt
	fwd, fwdOpen, rev                      *sql.Stmt
}

func (s *Store) newConn(ctx context.Context) (*conn, error) {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", s.path, describe(err))
	}
	return &conn{c: c}, nil
}

// init checks that the file is a database, switches it to WAL mode and
// creates the schema. It runs once per Open, on the writer.
func (c *conn) init(ctx context.Context) error {
	var mode string
	if err := c.c.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("cannot switch to WAL mode (journal_mode is %q)", mode)
	}
	var n int
	if err := c.c.QueryRowContext(ctx,
		"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT IN ('kv', 'hafs_store') AND name NOT LIKE 'sqlite_%'").Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("not a HAFS store: it holds %d other tables", n)
	}
	_, err := c.c.ExecContext(ctx, schema)
	return err
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
		{&c.get, "SELECT v FROM kv WHERE k = ?"},
		{&c.set, "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v"},
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
	for _, st := range []*sql.Stmt{c.begin, c.beginRead, c.commit, c.rollbackStmt, c.get, c.set,
		c.del, c.delRange, c.fwd, c.fwdOpen, c.rev} {
		if st != nil {
			st.Close()
		}
	}
	c.c.Close()
}
