package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// helloMessage is what GET /v1/hello answers (check-dev.sh edits it to time a live update).
const helloMessage = "hello from go-api"

type api struct{ db *pgxpool.Pool }

type note struct {
	ID   int64  `json:"id"`
	Text string `json:"text"`
}

func serve() error {
	port := os.Getenv("PORT")
	if port == "" {
		port = "9000"
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// The pool connects lazily: the server starts without a database and /health reports it.
	pool, err := openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	a := &api{db: pool}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", a.health)
	mux.HandleFunc("GET /v1/version", a.version)
	mux.HandleFunc("GET /v1/hello", a.hello)
	mux.HandleFunc("GET /v1/notes", a.listNotes)
	mux.HandleFunc("POST /v1/notes", a.createNote)
	srv := &http.Server{Addr: ":" + port, Handler: logRequests(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shutdown) //nolint:errcheck
	}()
	log.Printf("serving on :%s", port)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		if r.URL.Path != "/health" {
			log.Printf("%s %s %s", r.Method, r.URL.Path, time.Since(start).Round(time.Millisecond))
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck
}

func (a *api) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.db.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "error", "db": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "db": "ok"})
}

func (a *api) version(w http.ResponseWriter, _ *http.Request) {
	sha := os.Getenv("GIT_SHA")
	if sha == "" {
		sha = "unknown"
	}
	writeJSON(w, http.StatusOK, map[string]string{"service": "go-api", "sha": sha})
}

func (a *api) hello(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"message": helloMessage})
}

func (a *api) listNotes(w http.ResponseWriter, r *http.Request) {
	rows, err := a.db.Query(r.Context(), "SELECT id, text FROM notes ORDER BY id DESC LIMIT 100")
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	defer rows.Close()
	notes := []note{}
	for rows.Next() {
		var n note
		if err := rows.Scan(&n.ID, &n.Text); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		notes = append(notes, n)
	}
	if err := rows.Err(); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string][]note{"notes": notes})
}

func (a *api) createNote(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Text *string `json:"text"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil || in.Text == nil ||
		strings.TrimSpace(*in.Text) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be JSON {"text": "<non-empty string>"}`})
		return
	}
	n := note{Text: *in.Text}
	if err := a.db.QueryRow(r.Context(), "INSERT INTO notes (text) VALUES ($1) RETURNING id", n.Text).Scan(&n.ID); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, n)
}
