package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"
)

// migrateLockKey: the pg_advisory_lock key, so replicas (or two Jobs) migrating at once run one after another.
const migrateLockKey = 7210001

func migrate() error {
	if os.Getenv("GOAPI_MIGRATE_FAIL") == "1" {
		// For the failing-migration e2e: a clear last line in the Job's logs.
		return errors.New("migration failed on purpose (GOAPI_MIGRATE_FAIL=1)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, err := openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connecting to the database: %w", err)
	}
	defer conn.Release()
	log.Printf("migrate: waiting for advisory lock %d", migrateLockKey)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return fmt.Errorf("taking the advisory lock: %w", err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", migrateLockKey) //nolint:errcheck
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('public.notes') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("looking for table notes: %w", err)
	}
	if exists {
		log.Printf("migrate: table notes already exists, nothing to do")
		return nil
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS notes (
		id BIGSERIAL PRIMARY KEY,
		text TEXT NOT NULL,
		created_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("creating table notes: %w", err)
	}
	log.Printf("migrate: created table notes")
	return nil
}
