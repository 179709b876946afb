// go-api: a test service shaped unlike the examples (issue 11): port 9000, health at /health, routes under
// /v1, its database from GOAPI_DB, and migrations as a separate subcommand of the same binary.
//
//	go-api serve     serve HTTP on $PORT (default 9000)
//	go-api migrate   create the notes table (idempotent, under a Postgres advisory lock) and exit
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("go-api: ")
	cmd := "serve"
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve()
	case "migrate":
		err = migrate()
	default:
		err = fmt.Errorf("unknown command %q; accepted: serve, migrate", cmd)
	}
	if err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

// dsn is GOAPI_DB, a postgres URL (the chart appends ?sslmode=disable).
func dsn() (string, error) {
	v := os.Getenv("GOAPI_DB")
	if v == "" {
		return "", fmt.Errorf("GOAPI_DB is empty; set it to a postgres URL such as postgres://user:pass@host:5432/db?sslmode=disable")
	}
	return v, nil
}

func openPool(ctx context.Context) (*pgxpool.Pool, error) {
	url, err := dsn()
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("GOAPI_DB is not a valid postgres URL: %w", err)
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.ConnectTimeout = 3 * time.Second
	return pgxpool.NewWithConfig(ctx, cfg)
}
