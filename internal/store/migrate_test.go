package store

import "testing"

func TestMigrationsOfBothBackendsMatchOneToOne(t *testing.T) {
	lite, err := migrations.Load("sqlite")
	if err != nil {
		t.Fatalf("sqlite migrations: %v", err)
	}
	pg, err := migrations.Load("postgres")
	if err != nil {
		t.Fatalf("postgres migrations: %v", err)
	}
	if len(lite) == 0 {
		t.Fatalf("got no migrations, want at least one")
	}
	if len(lite) != len(pg) {
		t.Fatalf("got %d sqlite and %d postgres migrations, want the same number", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].Name != pg[i].Name {
			t.Errorf("migration %d: got sqlite %q and postgres %q, want the same name", i+1, lite[i].Name, pg[i].Name)
		}
	}
}

func TestPendingMigrationsStartAfterTheCurrentVersion(t *testing.T) {
	all, err := migrations.Load("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	for current := 0; current <= len(all); current++ {
		p, err := migrations.Pending("sqlite", current)
		if err != nil {
			t.Fatalf("pending after %d: %v", current, err)
		}
		if len(p) != len(all)-current {
			t.Fatalf("pending after %d: got %d, want %d", current, len(p), len(all)-current)
		}
		if len(p) > 0 && p[0].Version != current+1 {
			t.Fatalf("pending after %d: first is %d, want %d", current, p[0].Version, current+1)
		}
	}
	if _, err := migrations.Pending("sqlite", len(all)+1); err == nil {
		t.Fatalf("pending after a future version: got nil error, want refusal")
	}
}
